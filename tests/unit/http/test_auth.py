"""Who may post where: Standard Webhooks signatures (rotation, skew, replay, what a signature covers, the reference
vector), the one door each key opens and per-source allow-lists."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from forwarder.http.auth import sign
from tests.configs import service_config
from tests.conftest import REPO, event
from tests.processes import free_port, running
from tests.unit.conftest import bearer, client_for

OLD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


def signed(body: bytes, secret: str, at: int | None = None, message_id: str = "msg_1") -> dict[str, str]:
    timestamp = int(time.time()) if at is None else at
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        **bearer("key-one"),
    }


def test_signed_requests_are_checked(tmp_path: Path) -> None:
    body = json.dumps(event()).encode()
    now = int(time.time())
    with client_for(tmp_path, signing_secrets=[OLD_SECRET]) as client:
        assert client.post("/v1/events", content=body, headers=signed(body, OLD_SECRET)).status_code == 202
        unsigned = client.post("/v1/events", content=body, headers=bearer("key-one"))
        assert unsigned.status_code == 401 and unsigned.json()["error"] == "invalid_signature"
        tampered = client.post("/v1/events", content=body + b" ", headers=signed(body, OLD_SECRET))
        assert tampered.json()["message"] == "webhook-signature does not match the body"
        wrong = client.post("/v1/events", content=body, headers=signed(body, NEW_SECRET))
        assert wrong.status_code == 401
        for skew, expected in ((-240, 202), (240, 202), (-360, 401), (360, 401)):
            answer = client.post("/v1/events", content=body, headers=signed(body, OLD_SECRET, now + skew))
            assert answer.status_code == expected, skew
        replay = client.post("/v1/events", content=body, headers=signed(body, OLD_SECRET))
        assert replay.json()["duplicates"] == 1  # a replayed valid request stores nothing new


def test_secret_rotation_accepts_old_and_new(tmp_path: Path) -> None:
    body = json.dumps(event()).encode()
    with client_for(tmp_path, signing_secrets=[OLD_SECRET, NEW_SECRET]) as client:
        assert client.post("/v1/events", content=body, headers=signed(body, OLD_SECRET)).status_code == 202
        assert client.post("/v1/events", content=body, headers=signed(body, NEW_SECRET)).status_code == 202
        both = signed(body, NEW_SECRET)
        both["webhook-signature"] = "v1,bm90LWl0 " + both["webhook-signature"]  # several signatures, one valid
        assert client.post("/v1/events", content=body, headers=both).status_code == 202


# Against a real `forwarder serve`: which door each key opens, and what a signature covers.

SDK = {"Authorization": "Bearer sdk-key"}
REFERENCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks test suite's secret


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("doors")
    shutil.copytree(REPO / "mappings", tmp / "mappings")
    port = free_port()
    fields = {"event": "type", "event_id": "id", "timestamp": "ts", "properties.value": "amount"}
    config = service_config(
        tmp / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        tiktok_url="http://127.0.0.1:9",
        mappings_dir=tmp / "mappings",
        delivery={"enabled": False},
        sources={
            "app": {"keys": ["sdk-key"]},
            "walled_app": {"keys": ["walled-sdk-key"], "allowed_ips": ["192.0.2.0/24"]},
            "signed_app": {"keys": ["signed-sdk-key"], "signing_secrets": [REFERENCE_SECRET]},
            "adjust": {"kind": "adjust", "keys": ["adjust-key"], "app_id": "com.example.app"},
            "appsflyer": {"kind": "appsflyer", "keys": ["af-key"], "allowed_ips": ["192.0.2.0/24"]},
            "partner": {
                "kind": "generic",
                "keys": ["partner-key"],
                "app_id": "com.example.app",
                "signing_secrets": [REFERENCE_SECRET],
                "fields": fields,
            },
        },
        destinations={"app": {"event_source": "app", "event_source_id": "111", "access_token": "t"}},
    )
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp / "serve.log"):
        yield base


def test_a_postback_key_cannot_post_sdk_events(served: str) -> None:
    """An attribution platform's key opens its own postback URL only, and its allowed_ips hold everywhere."""
    assert httpx.post(f"{served}/v1/events", json=event(), headers=SDK).status_code == 202
    walled = httpx.post(f"{served}/v1/events", json=event(), headers=bearer("af-key"))
    assert walled.status_code == 403 and walled.json()["error"] == "forbidden"  # loopback is not 192.0.2.0/24
    wrong = httpx.post(f"{served}/v1/events", json=event(), headers=bearer("adjust-key"))
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "wrong_endpoint",
        "message": "this key is for /v1/postbacks/adjust only",
        "endpoint": "/v1/postbacks/adjust",
    }
    other = httpx.post(f"{served}/v1/postbacks/partner", json={"type": "PURCHASE"}, headers=bearer("adjust-key"))
    assert other.status_code == 401 and other.json()["endpoint"] == "/v1/postbacks/adjust"
    sdk = httpx.get(f"{served}/v1/postbacks/adjust", params={"event_name": "x"}, headers=SDK)
    assert sdk.status_code == 401 and sdk.json()["endpoint"] == "/v1/events"
    for answer in (walled, wrong, other, sdk):
        assert "key" not in answer.headers.get("content-type", "") and "-key" not in answer.text


def test_an_sdk_source_allow_list_applies_to_v1_events(served: str) -> None:
    answer = httpx.post(f"{served}/v1/events", json=event(), headers=bearer("walled-sdk-key"))
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"


def signature_headers(message_id: str, timestamp: int, signature: str, key: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        **bearer(key),
    }


def test_a_signed_get_postback_replayed_with_another_query_is_refused(served: str) -> None:
    """A captured signed GET callback cannot be re-pointed at another event: the query string is signed."""
    now = int(time.time())
    query = f"type=PURCHASE&id=real-1&ts={now}&amount=5"
    captured = signature_headers("msg_get", now, sign(REFERENCE_SECRET, "msg_get", now, b"", query), "partner-key")
    assert httpx.get(f"{served}/v1/postbacks/partner?{query}", headers=captured).status_code == 202
    forged = f"type=PURCHASE&id=forged-1&ts={now}&amount=9999"
    replay = httpx.get(f"{served}/v1/postbacks/partner?{forged}", headers=captured)
    assert replay.status_code == 401, replay.text
    assert replay.json()["error"] == "invalid_signature" and replay.json()["field"] == "webhook-signature"


def test_a_signed_post_with_an_added_query_parameter_is_refused(served: str) -> None:
    now = int(time.time())
    body = json.dumps({"type": "PURCHASE", "id": "post-1", "ts": now, "amount": 5}).encode()
    headers = signature_headers("msg_post", now, sign(REFERENCE_SECRET, "msg_post", now, body), "partner-key")
    url = f"{served}/v1/postbacks/partner"
    assert httpx.post(url, content=body, headers=headers).status_code == 202
    added = httpx.post(f"{url}?amount=9999", content=body, headers=headers)
    assert added.status_code == 401 and added.json()["error"] == "invalid_signature"
    signed_query = sign(REFERENCE_SECRET, "msg_post", now, body, "amount=7")
    signed = httpx.post(f"{url}?amount=7", content=body, headers={**headers, "webhook-signature": signed_query})
    assert signed.status_code == 202, signed.text  # a query string the sender signed is fine


def test_webhook_timestamp_that_is_not_ascii_seconds_answers_401(served: str) -> None:
    body = json.dumps(event()).encode()
    # Header bytes are read as Latin-1, so b"\xb2" arrives as "²" (a str.isdigit() digit); UTF-8 text arrives mangled.
    hostile = [b"1" * 5000, b"9" * 400, "²".encode("latin-1"), "¹²³".encode("latin-1"), "²".encode(), "١٢٣".encode()]
    for timestamp in [*hostile, b"17e8", b"-1", b"+1", b"1.5"]:
        headers = {
            "webhook-id": b"msg_ts",
            "webhook-timestamp": timestamp,
            "webhook-signature": b"v1,bm90LWl0",
            "Authorization": b"Bearer signed-sdk-key",
        }
        answer = httpx.post(f"{served}/v1/events", content=body, headers=headers)
        assert answer.status_code == 401, (timestamp[:10], answer.text[:200])
        assert answer.json()["error"] == "invalid_signature" and answer.json()["field"] == "webhook-timestamp"


def test_requests_signed_by_the_reference_library_are_accepted(served: str) -> None:
    """The `standardwebhooks` package signs what we verify; a query string is signed as `?{query}\\n{body}`."""
    sender = Webhook(REFERENCE_SECRET)
    now = datetime.now(tz=UTC)
    body = json.dumps(event(event_id="ref-1"))
    plain = signature_headers("msg_ref", int(now.timestamp()), sender.sign("msg_ref", now, body), "signed-sdk-key")
    assert httpx.post(f"{served}/v1/events", content=body, headers=plain).status_code == 202
    query = "campaign=x&y=%20z"
    with_query = sender.sign("msg_ref_q", now, f"?{query}\n{body}")
    headers = signature_headers("msg_ref_q", int(now.timestamp()), with_query, "signed-sdk-key")
    assert httpx.post(f"{served}/v1/events?{query}", content=body, headers=headers).status_code == 202
    refused = httpx.post(f"{served}/v1/events?campaign=other", content=body, headers=headers)
    assert refused.status_code == 401


def test_sign_matches_the_standard_webhooks_reference_vector() -> None:
    """The vector from standard-webhooks' own test suite (libraries/python/tests/test_webhooks.py)."""
    message_id, timestamp, payload = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(REFERENCE_SECRET, message_id, timestamp, payload) == expected
    at = datetime.fromtimestamp(timestamp, tz=UTC)
    assert Webhook(REFERENCE_SECRET).sign(message_id, at, payload.decode()) == expected
    with_query = sign(REFERENCE_SECRET, message_id, timestamp, payload, "a=1")
    assert with_query == Webhook(REFERENCE_SECRET).sign(message_id, at, '?a=1\n{"test": 2432232314}')
    assert with_query != expected

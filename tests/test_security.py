"""Ingest security: hashed keys and rotation, per-key rate limits, Standard Webhooks signatures, secret hygiene."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
import respx
from starlette.testclient import TestClient

from forwarder.auth import sign

from .conftest import ACCESS_TOKEN, event, make_settings, open_client

OLD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


def client_for(tmp_path: Path, **source: Any) -> TestClient:
    settings = make_settings(
        tmp_path, sources={"app": {"keys": ["key-one", "key-two"], **source}}, delivery={"enabled": False}
    )
    return open_client(settings, respx.Router())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_rotated_keys_and_hashed_keys_all_work(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"key-three").hexdigest()
    with client_for(tmp_path, key_sha256=[digest]) as client:
        for key in ("key-one", "key-two", "key-three"):
            assert client.post("/v1/events", json=event(event_id=key), headers=bearer(key)).status_code == 202
        assert client.post("/v1/events", json=event(), headers=bearer(digest)).status_code == 401


def test_rate_limit_applies_to_the_hot_key_only(tmp_path: Path) -> None:
    with client_for(tmp_path, rate_limit_per_s=0.001, rate_limit_burst=3) as client:
        codes = [
            client.post("/v1/events", json=event(event_id=str(i)), headers=bearer("key-one")).status_code
            for i in range(5)
        ]
        assert codes == [202, 202, 202, 429, 429]
        limited = client.post("/v1/events", json=event(), headers=bearer("key-one"))
        assert limited.json()["error"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
        assert client.post("/v1/events", json=event(event_id="x"), headers=bearer("key-two")).status_code == 202


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


def test_sentinel_token_is_absent_from_metrics_stats_and_errors(tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        client.post("/v1/events", json=event(), headers=bearer("key-one"))
        client.post("/v1/events", json={"events": "x"}, headers=bearer("key-one"))
        client.post("/v1/events", json=event(), headers=bearer(ACCESS_TOKEN))
        texts = [client.get(path).text for path in ("/metrics", "/v1/stats", "/healthz", "/readyz")]
    for text in texts:
        assert ACCESS_TOKEN not in text and "key-one" not in text


ADMIN_ROUTES = [
    ("GET", "/"),
    ("GET", "/v1/stats"),
    ("GET", "/metrics"),
    ("GET", "/v1/events/evt-1"),
    ("GET", "/v1/admin/dead"),
    ("POST", "/v1/admin/dead/replay"),
    ("POST", "/v1/admin/reload"),
]


@pytest.mark.parametrize(
    "credential",
    [
        b"Basic \xc3\xa9\xff\xfe",  # raw bytes in the header, not base64 at all
        b"Basic " + base64.b64encode(b"admin:\xff\xfe"),  # base64 of a password that is not UTF-8
        b"Basic " + base64.b64encode(b"\xff"),
        b"Bearer \xff\x00",
    ],
)
def test_admin_credentials_that_are_not_utf8_are_a_401_on_every_admin_route(tmp_path: Path, credential: bytes) -> None:
    """Before: `Authorization: Basic` with non-ASCII bytes answered 500 on every admin route, with no key."""
    settings = make_settings(tmp_path, admin_token="admin-token-1", delivery={"enabled": False})
    with open_client(settings, respx.Router()) as client:
        for method, path in ADMIN_ROUTES:
            answer = client.request(method, path, headers={"Authorization": credential})  # type: ignore[dict-item]
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.json()["error"] == "unauthorized"

"""The whole service under TestClient: restarts, dedup across restarts, stats, secrets kept out of logs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from tests.conftest import (
    ACCESS_TOKEN,
    AUTH,
    INGEST_KEY,
    REPO,
    TRACK_URL,
    event,
    make_settings,
    open_client,
    stats_of,
    wait_for,
)
from tests.unit.conftest import bearer, client_for


def test_acknowledged_events_survive_a_restart(tmp_path: Path, tiktok: respx.Router) -> None:
    stopped = make_settings(tmp_path, delivery={"enabled": False})
    with open_client(stopped, tiktok) as client:
        batch = {"events": [event(event_id=f"e{i}") for i in range(50)]}
        assert client.post("/v1/events", json=batch, headers=AUTH).json()["accepted"] == 50
        assert stats_of(client)["pending"] == 50
    assert not tiktok.calls
    with open_client(make_settings(tmp_path), tiktok) as client:
        wait_for(lambda: stats_of(client)["delivered"] == 50)
    sent = [d["event_id"] for call in tiktok.calls for d in json.loads(call.request.content)["data"]]
    assert sorted(sent) == sorted(f"e{i}" for i in range(50))


def test_dedup_holds_across_restarts(tmp_path: Path, tiktok: respx.Router) -> None:
    settings = make_settings(tmp_path)
    with open_client(settings, tiktok) as client:
        assert client.post("/v1/events", json=event(), headers=AUTH).json()["accepted"] == 1
        wait_for(lambda: stats_of(client)["delivered"] == 1)
    with open_client(settings, tiktok) as client:
        assert client.post("/v1/events", json=event(), headers=AUTH).json()["duplicates"] == 1
        assert stats_of(client)["duplicates"] == 1
    assert len(tiktok.calls) == 1


def test_the_delivered_body_is_what_tiktok_expects(client: TestClient, tiktok: respx.Router) -> None:
    client.post("/v1/events", json=event(test_event_code="TEST123"), headers=AUTH)
    wait_for(lambda: len(tiktok.calls) == 1)
    body = json.loads(tiktok.calls[0].request.content)
    assert body["event_source"] == "app"
    assert body["event_source_id"] == "7301234567890123456"
    assert body["partner_name"] == "ForwarderTests"
    assert body["test_event_code"] == "TEST123"
    [data] = body["data"]
    assert data["event"] == "StartTrial"
    assert data["event_id"] == "evt-1"
    assert isinstance(data["event_time"], int)
    assert data["user"]["phone"] == ["36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4"]
    assert data["app"] == {"app_id": "com.example.app", "app_name": "Example", "app_version": "5.4.1"}
    assert data["properties"]["contents"] == [{"content_id": "sku-1", "quantity": 1, "price": 9.99}]


def test_stats_report_every_count(client: TestClient, tiktok: respx.Router) -> None:
    client.post(
        "/v1/events",
        json={
            "events": [event(event_id="a"), event(event_id="b"), event(event="NOT_MAPPED", event_id="c"), {"event": 1}]
        },
        headers=AUTH,
    )
    client.post("/v1/events", json=event(event_id="a"), headers=AUTH)
    wait_for(lambda: stats_of(client)["delivered"] == 2)
    stats = client.get("/v1/stats").json()
    assert stats["destinations"]["app_main"] | {"oldest_pending_age_s": None} == {
        "kind": "tiktok_events_api",
        "event_source": "app",
        "event_source_id": "7301234567890123456",
        "configured": True,
        "state": "active",
        "paused": None,
        "received": 3,
        "accepted": 2,
        "duplicates": 1,
        "order_duplicates": 0,
        "order_conflicts": 0,
        "held": 0,
        "released": 0,
        "unmapped": 1,
        "filtered": 0,
        "denied": 0,
        "no_lead_id": 0,
        "value_dropped": 0,
        "pending": 0,
        "in_flight": 0,
        "delivered": 2,
        "failed": 0,
        "dead": 0,
        "replayed": 0,
        "retried": 0,
        "oldest_pending_age_s": None,
        "last_error": None,
    }
    assert stats["sources"] == {"ios_app": {"received": 5, "rejected": 1}}


def test_admin_token_guards_stats(tmp_path: Path, tiktok: respx.Router) -> None:
    with open_client(make_settings(tmp_path, admin_token="admin-secret-1"), tiktok) as client:
        assert client.get("/v1/stats").status_code == 401
        assert client.get("/v1/stats", headers={"Authorization": "Bearer admin-secret-1"}).status_code == 200


def test_secrets_never_reach_logs_errors_or_stats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    router = respx.Router()
    router.post(TRACK_URL).mock(
        side_effect=[
            httpx.Response(200, json={"code": 40105, "message": f"Access token {ACCESS_TOKEN} has been revoked."}),
            httpx.Response(200, json={"code": 40002, "message": "Invalid value for event_id.", "request_id": "r1"}),
        ]
        + [httpx.Response(200, json={"code": 0, "message": "OK"})] * 10
    )
    settings = make_settings(tmp_path, log_level="debug", delivery={"pause_probe_base_s": 0.05})
    with open_client(settings, router) as client:
        client.post("/v1/events", json=event(event_id="x1"), headers=AUTH)
        wait_for(lambda: stats_of(client)["failed"] == 1)  # paused by 40105, then the probe got the 40002
        client.post("/v1/events", json=event(event_id="x2"), headers=AUTH)
        client.post("/v1/events", json=event(event=3), headers=AUTH)
        client.post("/v1/events", content=b"{", headers=AUTH)
        client.post("/v1/events", json=event(), headers={"Authorization": f"Bearer {INGEST_KEY}x"})
        wait_for(lambda: stats_of(client)["delivered"] == 1)
        stats_text = client.get("/v1/stats").text
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text + stats_text
    assert "has been revoked" in everything  # the failure itself is visible ...
    for secret in (ACCESS_TOKEN, INGEST_KEY):
        assert secret not in everything  # ... but never the secret
    db = b"".join(p.read_bytes() for p in tmp_path.glob("forwarder.db*"))
    assert ACCESS_TOKEN.encode() not in db
    assert INGEST_KEY.encode() not in db


def test_raw_pii_never_reaches_the_database(tmp_path: Path, tiktok: respx.Router) -> None:
    settings = make_settings(tmp_path, delivery={"enabled": False})
    with open_client(settings, tiktok) as client:
        client.post(
            "/v1/events",
            json=event(
                user={"email": "Plain.Text@Example.com", "phone": "+14155550199", "external_id": "customer-8812"}
            ),
            headers=AUTH,
        )
    data = b"".join(p.read_bytes() for p in tmp_path.glob("forwarder.db*"))
    for plaintext in (b"Plain.Text@Example.com", b"plain.text@example.com", b"14155550199", b"customer-8812"):
        assert plaintext not in data


def test_ingest_answers_within_the_commit(tmp_path: Path, tiktok: respx.Router) -> None:
    """202 means committed: a new reader sees the rows the moment the answer arrives."""
    import sqlite3

    settings = make_settings(tmp_path, delivery={"enabled": False})
    with open_client(settings, tiktok) as client:
        for i in range(20):
            client.post("/v1/events", json=event(event_id=f"c{i}", timestamp=int(time.time())), headers=AUTH)
            reader = sqlite3.connect(tmp_path / "forwarder.db")
            assert reader.execute("SELECT count(*) FROM outbox").fetchone()[0] == i + 1
            reader.close()


def test_each_outbox_row_records_its_mapping_version(tmp_path: Path, tiktok: respx.Router) -> None:
    from forwarder.mapping.tables import load_table

    settings = make_settings(tmp_path, delivery={"enabled": False})
    with open_client(settings, tiktok) as client:
        client.post("/v1/events", json=event(), headers=AUTH)
    import sqlite3

    [(version,)] = sqlite3.connect(tmp_path / "forwarder.db").execute("SELECT mapping_version FROM outbox").fetchall()
    assert version == load_table(REPO / "mappings" / "default.toml").label


def test_sentinel_token_is_absent_from_metrics_stats_and_errors(tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        client.post("/v1/events", json=event(), headers=bearer("key-one"))
        client.post("/v1/events", json={"events": "x"}, headers=bearer("key-one"))
        client.post("/v1/events", json=event(), headers=bearer(ACCESS_TOKEN))
        texts = [client.get(path).text for path in ("/metrics", "/v1/stats", "/healthz", "/readyz")]
    for text in texts:
        assert ACCESS_TOKEN not in text and "key-one" not in text

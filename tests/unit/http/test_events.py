"""POST /v1/events: auth, body limits, JSON and field errors, partial batches, dedup answers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import respx
from starlette.testclient import TestClient

from tests.conftest import AUTH, event, make_settings, open_client


def post(client: TestClient, body: Any, headers: dict[str, str] | None = None) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/events", content=content, headers={**AUTH, **(headers or {})})


def test_single_event_is_accepted(client: TestClient) -> None:
    response = post(client, event())
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_missing_or_wrong_key_is_401(client: TestClient) -> None:
    assert client.post("/v1/events", json=event()).status_code == 401
    wrong = client.post("/v1/events", json=event(), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "unauthorized"
    basic = client.post("/v1/events", json=event(), headers={"Authorization": "Basic dGVzdA=="})
    assert basic.status_code == 401


def test_invalid_json_is_400_with_position(client: TestClient) -> None:
    response = post(client, b'{"event": "START_TRIAL",')
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert "line 1" in response.json()["message"]


def test_non_object_bodies_are_400(client: TestClient) -> None:
    for body in (b"[]", b"42", b'"x"', b""):
        assert post(client, body).status_code == 400
    assert post(client, {"events": {}}).json()["field"] == "events"
    assert post(client, {"events": []}).json()["field"] == "events"


def test_wrong_types_are_422_naming_fields(client: TestClient) -> None:
    response = post(client, event(event=7, timestamp="soon", user={"email": {"a": 1}}))
    assert response.status_code == 422
    errors = response.json()["rejected"][0]["errors"]
    assert {"event", "timestamp", "user.email.0"} <= {e["field"] for e in errors}


def test_missing_required_field_is_named(client: TestClient) -> None:
    body = event()
    del body["event"]
    response = post(client, body)
    assert response.status_code == 422
    assert response.json()["rejected"] == [{"index": 0, "errors": [{"field": "event", "message": "Field required"}]}]


def test_batch_accepts_valid_events_and_rejects_the_others(client: TestClient) -> None:
    batch = {"events": [event(event_id="a"), event(event_id="b", timestamp=[]), event(event_id="c"), "junk"]}
    response = post(client, batch)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert body["rejected"][1]["errors"][0]["field"] == "(event)"


def test_oversize_body_is_413_with_or_without_content_length(client: TestClient) -> None:
    big = json.dumps({"events": [event(properties={"blob": "x" * 2_000_000})]}).encode()
    assert post(client, big).status_code == 413

    def chunks() -> Any:  # no Content-Length: sent chunked
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    response = client.post("/v1/events", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_more_than_the_event_cap_is_413(client: TestClient) -> None:
    response = post(client, {"events": [event(event_id=str(i)) for i in range(1001)]})
    assert response.status_code == 413
    assert response.json()["field"] == "events"


def test_a_resent_event_is_a_duplicate(client: TestClient) -> None:
    assert post(client, event()).json()["accepted"] == 1
    assert post(client, event()).json() == {"accepted": 0, "duplicates": 1, "rejected": []}


def test_an_event_without_id_deduplicates_on_content(client: TestClient) -> None:
    body = event(event_id=None, timestamp=int(time.time()))
    assert post(client, body).json()["accepted"] == 1
    assert post(client, body).json()["duplicates"] == 1


def test_unmapped_events_are_acknowledged_and_counted(client: TestClient) -> None:
    assert post(client, event(event="SOMETHING_ELSE")).json()["accepted"] == 1
    stats = client.get("/v1/stats").json()["destinations"]["app_main"]
    assert stats["unmapped"] == 1 and stats["received"] == 0


def test_too_old_and_future_events_are_rejected_as_timestamp(client: TestClient) -> None:
    old = post(client, event(timestamp=int(time.time()) - 8 * 86400)).json()
    future = post(client, event(timestamp=int(time.time()) + 3600)).json()
    assert old["rejected"][0]["errors"][0]["field"] == "timestamp"
    assert "future" in future["rejected"][0]["errors"][0]["message"]


def test_app_destination_needs_app_id(client: TestClient) -> None:
    response = post(client, event(app=None))
    assert response.status_code == 422
    assert response.json()["rejected"][0]["errors"][0]["field"] == "app.id"


def test_source_only_reaches_its_destinations(tmp_path: Path, tiktok: respx.Router) -> None:
    settings = make_settings(
        tmp_path,
        sources={"ios_app": {"keys": ["test-ingest-key-0001"], "destinations": ["web_pixel"]}},
        destinations={
            "app_main": {"event_source": "app", "event_source_id": "1", "access_token": "t1"},
            "web_pixel": {
                "event_source": "web",
                "event_source_id": "C4PIXEL",
                "access_token": "t2",
                "mapping": "web",
                "page_url": "https://example.com/app",
            },
        },
    )
    with open_client(settings, tiktok) as client:
        post(client, event(event="REGISTRATION"))
        stats = client.get("/v1/stats").json()["destinations"]
    assert stats["web_pixel"]["received"] == 1
    assert stats["app_main"]["received"] == 0


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "store": True, "delivery": True}


def test_unsupported_currency_policy_counts_dropped_values(tmp_path: Path, tiktok: respx.Router) -> None:
    settings = make_settings(tmp_path, tiktok={"base_url": "https://tiktok.test", "unsupported_currency": "drop_value"})
    with open_client(settings, tiktok) as client:
        assert post(client, event(properties={"value": 3, "currency": "BGN"})).status_code == 202
        assert client.get("/v1/stats").json()["destinations"]["app_main"]["value_dropped"] == 1

"""Nothing accepted vanishes silently: events sent nowhere are named in the answer, counted per name in the store
(across replicas), logged at most once a minute per name."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import respx
from structlog.testing import CapturingLogger

from forwarder.mapping.not_forwarded import QuietLog
from forwarder.store import NotForwarded
from tests.conftest import AUTH, event, make_settings, open_client, sent_bodies, wait_for


def test_the_answer_names_each_event_sent_nowhere_and_why(tmp_path: Path, settings_values: dict[str, Any]) -> None:
    batch = [
        event(event_id="sent", event="Start Trial"),
        event(event_id="unmapped", event="LEVEL_UP"),
        event(event=5),  # rejected: indexes below still count it
        event(event_id="filtered", event="subscription", properties={"paid": False}),
        event(event_id="denied", event="DebugPing"),
    ]
    tiktok = respx.Router(assert_all_called=False)
    tiktok.post(url__regex=".*").respond(json={"code": 0, "message": "OK", "data": {}})
    with open_client(make_settings(tmp_path, **settings_values), tiktok) as client:
        answer = client.post("/v1/events", json={"events": batch}, headers=AUTH)
        assert answer.status_code == 202
        body = answer.json()
        assert body["accepted"] == 4 and len(body["rejected"]) == 1
        assert body["not_forwarded"] == [
            {"index": 1, "event": "LEVEL_UP", "reason": "unmapped", "destinations": {"app_main": "unmapped"}},
            {"index": 3, "event": "subscription", "reason": "filtered", "destinations": {"app_main": "filtered"}},
            {"index": 4, "event": "DebugPing", "reason": "denied", "destinations": {"app_main": "denied"}},
        ]
        wait_for(lambda: len(tiktok.calls) == 1)
        assert [e["event_id"] for b in sent_bodies(tiktok) for e in b["data"]] == ["sent"]
        assert "not_forwarded" not in client.post("/v1/events", json=event(event_id="x"), headers=AUTH).json()


def test_an_event_no_destination_takes_is_named_too(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, destinations={"app_main": {**_app_main(), "app_ids": ["com.other.app"]}})
    with open_client(settings, respx.Router()) as client:
        body = client.post("/v1/events", json=event(), headers=AUTH).json()
    assert body["not_forwarded"] == [
        {"index": 0, "event": "START_TRIAL", "reason": "no_destination", "destinations": {}}
    ]


def _app_main() -> dict[str, Any]:
    return {"event_source": "app", "event_source_id": "7301234567890123456", "access_token": "t"}


def test_destinations_that_differ_give_reason_mixed(tmp_path: Path, settings_values: dict[str, Any]) -> None:
    site = {
        "event_source": "web",
        "event_source_id": "C4PIX",
        "access_token": "t",
        "mapping": "web",
        "page_url": "https://example.com",
    }
    settings = make_settings(tmp_path, **settings_values, destinations={"app_main": _app_main(), "site": site})
    with open_client(settings, respx.Router()) as client:
        body = client.post("/v1/events", json=event(event="debug_ping"), headers=AUTH).json()
    assert body["not_forwarded"][0]["reason"] == "mixed"
    assert body["not_forwarded"][0]["destinations"] == {"app_main": "denied", "site": "unmapped"}


def test_stats_count_names_across_replicas_with_a_sample(
    tmp_path: Path, settings_values: dict[str, Any], store_url: str
) -> None:
    """Two app instances on one store (replicas, or workers): /v1/stats on either counts what both received."""
    settings = make_settings(tmp_path, **settings_values, store={"url": store_url}, delivery={"enabled": False})
    with open_client(settings, respx.Router()) as first, open_client(settings, respx.Router()) as second:
        first.post(
            "/v1/events", json={"events": [event(event_id=f"a{i}", event="LEVEL_UP") for i in range(3)]}, headers=AUTH
        )
        second.post("/v1/events", json=event(event_id="b0", event="LEVEL_UP"), headers=AUTH)
        second.post("/v1/events", json=event(event_id="b1", event="DEBUG_PING"), headers=AUTH)
        stats = first.get("/v1/stats").json()
    before = time.time() - 60
    [level_up, ping] = stats["not_forwarded"]
    assert level_up | {"first_at": 0, "last_at": 0} == {
        "event": "LEVEL_UP",
        "source": "ios_app",
        "reason": "unmapped",
        "count": 4,
        "first_at": 0,
        "last_at": 0,
        "event_id": "b0",  # the latest one's: look it up with GET /v1/events/b0
    }
    assert level_up["last_at"] >= level_up["first_at"] > before
    assert (ping["event"], ping["reason"], ping["count"]) == ("DEBUG_PING", "denied", 1)


def test_the_log_says_each_name_at_most_once_a_minute_with_a_count() -> None:
    logger = CapturingLogger()
    quiet = QuietLog(logger=logger)
    row = NotForwarded("LEVEL_UP", "ios_app", "unmapped", 2, "e1")
    quiet.note([row], 100.0)
    quiet.note([row._replace(event_id="e2")], 120.0)
    quiet.note([row._replace(event="OTHER")], 130.0)
    quiet.note([row._replace(events=1, event_id="e3")], 150.0)
    quiet.note([row._replace(event_id="e4")], 161.0)
    logs = [call.kwargs for call in logger.calls]
    assert [(line["name"], line["count"], line["sample_event_id"]) for line in logs] == [
        ("LEVEL_UP", 2, "e1"),
        ("OTHER", 2, "e1"),
        ("LEVEL_UP", 5, "e4"),  # the 3 held back since 100 s, and these 2
    ]
    assert {(call.method_name, call.args) for call in logger.calls} == {("warning", ("ingest.not_forwarded",))}


def test_the_log_limiter_remembers_a_bounded_number_of_names() -> None:
    logger = CapturingLogger()
    quiet = QuietLog(max_names=3, logger=logger)
    quiet.note([NotForwarded(f"N{i}", "s", "unmapped", 1, "e") for i in range(10)], 0.0)
    assert [call.kwargs["name"] for call in logger.calls] == ["N0", "N1", "N2", "(other names)"]
    assert logger.calls[-1].kwargs["count"] == 1  # the other names' later events wait for the next minute

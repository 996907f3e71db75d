"""/metrics moves as events flow; labels stay bounded (no event ids)."""

from __future__ import annotations

from pathlib import Path

import httpx
import respx
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from forwarder.metrics import NAME_LABELS, OTHER_NAMES, Metrics
from forwarder.store import NotForwarded
from tests.conftest import (
    AUTH,
    TRACK_URL,
    event,
    make_settings,
    open_client,
    stats_of,
    tiktok_answer,
    wait_for,
)


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_as_events_flow(tmp_path: Path) -> None:
    router = respx.Router()
    router.post(TRACK_URL).mock(
        side_effect=[
            tiktok_answer(40100, "Too many requests."),
            tiktok_answer(0, "OK"),
            tiktok_answer(40002, "Invalid value for event_id."),
        ]
    )
    with open_client(make_settings(tmp_path), router) as client:
        before = scrape(client)
        assert value(before, "forwarder_events_received_total", source="ios_app") == 0
        client.post(
            "/v1/events",
            json={"events": [event(event_id="a"), event(event_id="b", event="NOPE"), event(event=5)]},
            headers=AUTH,
        )
        client.post("/v1/events", json=event(event_id="a"), headers=AUTH)
        wait_for(lambda: stats_of(client)["delivered"] == 1)
        client.post("/v1/events", json=event(event_id="c"), headers=AUTH)
        wait_for(lambda: stats_of(client)["failed"] == 1)
        after = scrape(client)
    assert value(after, "forwarder_events_received_total", source="ios_app") == 5
    assert value(after, "forwarder_events_rejected_total", source="ios_app", field="event") == 1
    assert value(after, "forwarder_events_accepted_total", destination="app_main") == 2
    assert value(after, "forwarder_events_duplicates_total", destination="app_main") == 1
    assert value(after, "forwarder_events_dropped_total", destination="app_main", reason="unmapped") == 1
    assert value(after, "forwarder_events_retried_total", destination="app_main", tiktok_code="40100") == 1
    assert value(after, "forwarder_events_delivered_total", destination="app_main") == 1
    assert value(after, "forwarder_events_failed_total", destination="app_main", tiktok_code="40002") == 1
    assert value(after, "forwarder_pending_events", destination="app_main") == 0
    assert value(after, "forwarder_delivery_request_seconds_count", destination="app_main") == 3
    assert value(after, "forwarder_event_delivery_lag_seconds_count", destination="app_main") == 1
    assert value(after, "forwarder_ingest_request_seconds_count", status="202") == 3
    assert value(after, "forwarder_events_not_forwarded_total", event="NOPE", reason="unmapped") == 1
    labels = {name for (_, pairs) in after for name, _ in pairs}
    # `event` is an inbound event name, for events sent nowhere only, and bounded (test_not_forwarded.py).
    # `state` is the Marketing API connection's, one of marketing/health.py's STATES.
    assert labels <= {"source", "field", "destination", "reason", "tiktok_code", "status", "le", "event", "state"}
    assert not any(v == "a" for (_, pairs) in after for _, v in pairs)  # no event id became a label


def test_pending_and_paused_gauges(tmp_path: Path) -> None:
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda r: httpx.Response(200, json={"code": 40105, "message": "revoked"}))
    with open_client(make_settings(tmp_path, delivery={"pause_probe_base_s": 60}), router) as client:
        client.post("/v1/events", json={"events": [event(event_id=str(i)) for i in range(3)]}, headers=AUTH)
        wait_for(lambda: stats_of(client)["state"] == "paused")
        samples = scrape(client)
    assert value(samples, "forwarder_pending_events", destination="app_main") == 3
    assert value(samples, "forwarder_destination_paused", destination="app_main") == 1
    assert value(samples, "forwarder_oldest_pending_age_seconds", destination="app_main") >= 0


def test_rejections_in_free_form_fields_are_labelled_by_their_parent(tmp_path: Path) -> None:
    """Client-chosen keys (properties, extras) never become label values: one series per model field."""
    rejected = (
        [event(properties={f"key-{i}": "\x00"}) for i in range(3)]
        + [event(**{f"extra-{i}": "\x00"}) for i in range(3)]
        + [event(user={"email": "a\x00"})]
    )
    with open_client(make_settings(tmp_path, delivery={"enabled": False}), respx.Router()) as client:
        client.post("/v1/events", json={"events": rejected}, headers=AUTH)
        after = scrape(client)
    fields = {
        dict(labels)["field"]: count
        for (name, labels), count in after.items()
        if name == "forwarder_events_rejected_total" and count
    }
    assert fields == {"properties": 3, "(extra)": 3, "user.email": 1}


def test_prometheus_names_are_bounded() -> None:
    metrics = Metrics()
    metrics.count_not_forwarded([NotForwarded(f"N{i}", "s", "unmapped", 1, "e") for i in range(NAME_LABELS + 50)])
    names = {s.labels["event"] for m in metrics.not_forwarded.collect() for s in m.samples if "event" in s.labels}
    assert len(names) == NAME_LABELS + 1 and OTHER_NAMES in names
    other = metrics.not_forwarded.labels(OTHER_NAMES, "unmapped")._value.get()
    assert other == 50

"""Backpressure: past the high-water marks ingest answers 503 + Retry-After and stores nothing; it recovers."""

from __future__ import annotations

from pathlib import Path

import respx

from tests.conftest import AUTH, TRACK_URL, event, make_settings, open_client, stats_of, tiktok_answer, wait_for


def test_backlog_high_water_mark_refuses_then_recovers(tmp_path: Path) -> None:
    router = respx.Router()
    up = False
    router.post(TRACK_URL).mock(side_effect=lambda r: tiktok_answer(0 if up else 50002, "busy"))
    settings = make_settings(
        tmp_path,
        store={"url": f"sqlite:///{tmp_path / 'f.db'}", "max_pending_events": 5},
        delivery={"breaker_cooldown_s": 0.1, "pause_probe_cap_s": 0.2},
    )
    with open_client(settings, router) as client:
        answer = client.post("/v1/events", json={"events": [event(event_id=str(i)) for i in range(5)]}, headers=AUTH)
        assert answer.status_code == 202

        def refused() -> bool:
            return client.post("/v1/events", json=event(event_id="x"), headers=AUTH).status_code == 503

        wait_for(refused)  # the marks are checked every second, so a request or two may still pass before
        accepted = stats_of(client)["accepted"]
        last = client.post("/v1/events", json=event(event_id="y"), headers=AUTH)
        assert last.status_code == 503 and last.headers["Retry-After"] == "30"
        assert last.json()["error"] == "overloaded" and "max_pending_events 5" in last.json()["message"]
        assert stats_of(client)["accepted"] == accepted  # a 503 stores nothing
        up = True
        wait_for(lambda: client.post("/v1/events", json=event(event_id="z"), headers=AUTH).status_code == 202)


def test_low_free_disk_refuses(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store={"url": f"sqlite:///{tmp_path / 'f.db'}", "min_free_disk_bytes": 10**18})
    with open_client(settings, respx.Router()) as client:
        answer = client.post("/v1/events", json=event(), headers=AUTH)
        assert answer.status_code == 503
        assert "min_free_disk_bytes" in answer.json()["message"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "min_free_disk_bytes" in ready.json()["reason"]


def test_store_size_limit_refuses(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store={"url": f"sqlite:///{tmp_path / 'f.db'}", "max_store_bytes": 1})
    with open_client(settings, respx.Router()) as client:
        assert client.post("/v1/events", json=event(), headers=AUTH).status_code == 503

"""`forwarder mappings diff`: stored events replayed through current and candidate tables."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from forwarder.app import create_app
from forwarder.cli import main
from forwarder.settings import load_settings
from tests.configs import service_config
from tests.conftest import REPO, event, wait_for

KEY = {"Authorization": "Bearer diff-key"}


def write_config(tmp_path: Path, delivery: str = "enabled = false") -> Path:
    return service_config(
        tmp_path / "config.toml",
        store_url=f"sqlite:///{tmp_path / 'forwarder.db'}",
        tiktok_url="https://tiktok.test",
        mappings_dir=tmp_path / "mappings",
        top_level={"admin_token": "adm-1234"},
        delivery=delivery,
        sources={"app": {"keys": ["diff-key"]}},
        destinations={"main": {"event_source": "app", "event_source_id": "111", "access_token": "t"}},
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    return write_config(tmp_path)


def ingest(config: Path, events: list[dict[str, Any]]) -> None:
    app = create_app(load_settings(config), transport=httpx.MockTransport(respx.Router().async_handler))
    with TestClient(app) as client:
        assert client.post("/v1/events", json={"events": events}, headers=KEY).status_code == 202


def candidate(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "candidate"
    shutil.copytree(tmp_path / "mappings", directory)
    (directory / "default.toml").write_text(text)
    return directory


def test_diff_reports_each_kind_of_change(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = int(time.time())
    ingest(
        config,
        [
            event(event_id="t1", event="START_TRIAL", timestamp=now),
            event(event_id="p1", event="PURCHASE", timestamp=now, properties={"value": 5, "currency": "USD"}),
            event(event_id="l1", event="LOGIN", timestamp=now),
            event(event_id="x1", event="LEVEL_UP", timestamp=now),
            event(event_id="s1", event="SEARCH", timestamp=now),
            event(event_id="r1", event="REGISTRATION", timestamp=now),
        ],
    )
    new = candidate(
        tmp_path,
        """
[events]
START_TRIAL = "Subscribe"
PURCHASE = { event = "Purchase", defaults = { content_type = "product" } }
LEVEL_UP = "AchieveLevel"
SEARCH = "Search"
REGISTRATION = "CompleteRegistration"
""",
    )
    assert main(["mappings", "diff", str(new), "--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["replayed"] == 6 and report["unchanged"] == 1
    kinds = report["destinations"]["main"]
    assert kinds["renamed"]["examples"][0] | {"after": None} == {
        "event_id": "t1",
        "inbound_event": "START_TRIAL",
        "before": ["StartTrial"],
        "after": None,
    }
    assert kinds["properties_changed"]["examples"][0]["properties"] == ["content_type"]
    assert kinds["newly_dropped"]["examples"][0]["event_id"] == "l1"
    assert kinds["newly_dropped"]["examples"][0]["reason"] == "unmapped"
    assert kinds["newly_sent"]["examples"][0] == {
        "event_id": "x1",
        "inbound_event": "LEVEL_UP",
        "after": ["AchieveLevel"],
    }
    assert kinds["invalid_for_tiktok"]["examples"][0]["event"] == "CompleteRegistration"


def test_diff_text_output_and_no_change(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ingest(config, [event(event_id="a"), event(event_id="b", event="PURCHASE")])
    assert main(["mappings", "diff", str(tmp_path / "mappings"), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Replayed 2 stored events" in out and "2 unchanged" in out
    assert "No destination would see a difference." in out


def test_diff_refuses_an_invalid_candidate(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ingest(config, [event()])
    new = candidate(tmp_path, "[events]\nSTART_TRIAL = 1\n")
    assert main(["mappings", "diff", str(new), "--config", str(config)]) == 1
    assert "events.START_TRIAL" in capsys.readouterr().err


def test_stored_events_hold_no_raw_pii(config: Path) -> None:
    ingest(config, [event(user={"email": "Someone@Example.com", "phone": "+14155550100", "external_id": "cust-9"})])
    data = b"".join(p.read_bytes() for p in config.parent.glob("forwarder.db*"))
    for plaintext in (b"someone@example.com", b"Someone@Example.com", b"14155550100", b"cust-9"):
        assert plaintext not in data


def test_ledger_shows_receipts_mapping_and_attempts(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router = respx.Router()
    router.post("https://tiktok.test/open_api/v1.3/event/track/").mock(
        side_effect=[
            httpx.Response(200, json={"code": 40100, "message": "Too many requests.", "request_id": "req-1"}),
            httpx.Response(200, json={"code": 0, "message": "OK", "request_id": "req-2"}),
        ]
    )
    config = write_config(tmp_path, "retry_base_s = 0.01\nretry_cap_s = 0.02\npoll_interval_s = 0.02")
    app = create_app(load_settings(config), transport=httpx.MockTransport(router.async_handler))
    with TestClient(app) as client:
        client.post("/v1/events", json=event(event_id="led-1"), headers=KEY)
        client.post("/v1/events", json=event(event_id="led-1"), headers=KEY)
        admin = {"Authorization": "Bearer adm-1234"}

        def delivered() -> bool:
            deliveries = client.get("/v1/events/led-1", headers=admin).json()["deliveries"]
            return bool(deliveries and deliveries[0]["state"] == "delivered")

        wait_for(delivered)
        ledger = client.get("/v1/events/led-1", headers=admin).json()
        assert client.get("/v1/events/led-1").status_code == 401
        assert client.get("/v1/events/nope", headers={"Authorization": "Bearer adm-1234"}).status_code == 404
    assert [r["event"] for r in ledger["received"]] == ["START_TRIAL", "START_TRIAL"]  # sent twice, stored once
    [delivery] = ledger["deliveries"]
    assert delivery["event"] == "StartTrial" and delivery["state"] == "delivered"
    assert delivery["mapping_version"].startswith("default@")
    assert [(a["tiktok_code"], a["request_id"]) for a in delivery["attempts"]] == [(40100, "req-1"), (0, "req-2")]
    assert main(["events", "show", "led-1", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["deliveries"][0]["attempts"][1]["request_id"] == "req-2"

"""`forwarder explain`: the exact request per destination, or the reason there is none."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from forwarder.cli import main
from forwarder.explain import explain
from forwarder.mapping.planning import Routing
from forwarder.mapping.tables import load_mappings
from forwarder.tiktok.builder import TikTokPayloads
from tests.configs import example_config
from tests.conftest import event
from tests.unit.conftest import offline_and_crm_settings as _settings

WEB = (
    '\n[destinations.site]\nevent_source = "web"\nevent_source_id = "C4PIXEL"\naccess_token = "t"\n'
    'mapping = "web"\npage_url = "https://example.com/app"\napp_ids = ["com.example.app"]\n'
)


def run_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: Any, extra: str = WEB) -> Any:
    config = example_config(tmp_path, extra=extra)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(body))
    code = main(["explain", str(event_file), "--config", str(config)])
    return code, json.loads(capsys.readouterr().out)


def test_explain_prints_the_request_for_each_destination(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run_explain(tmp_path, capsys, event(event="REGISTRATION", timestamp=int(time.time())))
    assert code == 0
    [explained] = result["events"]
    app = explained["destinations"]["demo_app_events"]
    site = explained["destinations"]["site"]
    assert app["events"] == ["Registration"] and site["events"] == ["CompleteRegistration"]
    assert app["mapping"].startswith("default@")
    assert app["request"]["url"].endswith("/open_api/v1.3/event/track/")
    assert app["request"]["body"]["event_source_id"] == "7301234567890123456"
    assert site["request"]["body"]["data"][0]["page"] == {"url": "https://example.com/app"}
    assert "idfa" not in site["request"]["body"]["data"][0]["user"]
    assert app["request"]["body"]["data"][0]["user"]["email"] == [
        "08168cd80dfd534ab0f10af10f1303fe00af2d43ab5c1432360d137f8197e17a"
    ]


def test_explain_says_why_an_event_is_dropped_or_not_routed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, result = run_explain(tmp_path, capsys, event(event="LEVEL_UP", app={"id": "com.other"}))
    destinations = result["events"][0]["destinations"]
    assert destinations["demo_app_events"]["status"] == "dropped"
    assert "unmapped events are dropped" in destinations["demo_app_events"]["reason"]
    assert destinations["site"] == {
        "status": "not_routed",
        "reason": "app id 'com.other' is not in the destination's app_ids",
    }


def test_explain_lists_the_reasons_an_event_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, result = run_explain(tmp_path, capsys, {"events": [event(properties={"value": "lots"}), {"event": 5}]})
    assert result["events"][0]["rejected"] == [{"field": "properties.value", "message": "must be a number"}]
    assert {e["field"] for e in result["events"][1]["rejected"]} == {"event", "timestamp"}


def test_explain_rejects_a_body_that_is_not_an_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run_explain(tmp_path, capsys, [1, 2])
    assert code == 1 and result["error"] == "invalid_body"


def test_explain_says_why_a_crm_destination_gets_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    routing = Routing(settings, load_mappings(settings.mappings_dir), TikTokPayloads())
    result = explain(routing, json.dumps(event(event="GENERATE_LEAD")).encode(), "ios_app", time.time())
    leads = result["events"][0]["destinations"]["leads"]
    assert leads["status"] == "dropped" and "no lead.lead_id" in leads["reason"]
    assert result["events"][0]["destinations"]["shop"]["status"] == "send"

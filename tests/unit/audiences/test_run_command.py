"""`forwarder audiences run NAME`: a past-behaviour rule evaluated now, on the store the service uses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import respx

from forwarder.cli import main
from tests.configs import service_config
from tests.conftest import AUTH, event, make_settings, open_client

PAST = {
    "advertiser_id": "7002238017842757633",
    "past": {"did": "PURCHASE", "at_least": 2, "within_days": 7, "schedule": "every 24h"},
}


def test_run_evaluates_the_rule_now_and_refuses_a_live_audience(
    tmp_path: Path, tiktok: respx.Router, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, audiences={"buyers": PAST}, audience_sync={"enabled": False})
    with open_client(settings, tiktok) as client:
        for user, times in (("a@example.com", 2), ("b@example.com", 1)):
            for n in range(times):
                body = event(event="PURCHASE", event_id=f"{user}-{n}", timestamp=int(time.time()))
                body["user"] = {"email": user}
                body["properties"] = {"value": 5, "currency": "USD"}
                assert client.post("/v1/events", json=body, headers=AUTH).status_code == 202
    config = service_config(
        tmp_path / "config.toml",
        store_url=settings.store.url,
        tiktok_url="http://127.0.0.1:9",
        extra=f'[audiences.buyers]\nadvertiser_id = "{PAST["advertiser_id"]}"\n'
        'past = { did = "PURCHASE", at_least = 2, within_days = 7, schedule = "every 24h" }\n',
    )
    assert main(["audiences", "run", "buyers", "--config", str(config)]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"qualifying"')]
    summary = json.loads(printed[-1])
    # Only a@ bought twice. (The service's own scheduled run may have let them in first: members, not entered.)
    assert (summary["qualifying"], summary["members"]) == (1, 1)
    assert main(["audiences", "run", "nope", "--config", str(config)]) == 1
    assert "no past-behaviour audience 'nope'" in capsys.readouterr().err

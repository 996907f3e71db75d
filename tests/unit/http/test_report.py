"""`GET /v1/report` on the real app: the puller fills the store from the Marketing API emulator, events go to the
Events API emulator, and the report puts TikTok's figures beside what TikTok acknowledged from us."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.testclient import TestClient

from forwarder.app import create_app
from forwarder.cli import main
from forwarder.emulators import create_emulators
from forwarder.settings import Settings
from tests.configs import service_config
from tests.conftest import AUTH, event, make_settings, wait_for

ADMIN = {"Authorization": "Bearer report-admin"}
US = "7002238017842757633"


def report_settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        admin_token="report-admin",
        tiktok={"base_url": "http://emulator"},
        marketing={"base_url": "http://emulator/marketing", "access_token": "emulator-token", "advertiser_ids": [US]},
    )


def open_app(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, transport=httpx.ASGITransport(app=create_emulators())))


def test_the_report_puts_tiktoks_figures_beside_what_we_forwarded(tmp_path: Path) -> None:
    today = datetime.now(ZoneInfo("America/Los_Angeles")).date()
    with open_app(report_settings(tmp_path)) as client:
        purchases = [
            event(event_id=f"p-{n}", event="PURCHASE", properties={"value": 10 + n, "currency": "USD"})
            for n in range(3)
        ]
        assert client.post("/v1/events", json={"events": purchases}, headers=AUTH).status_code == 202

        def ready() -> bool:
            document = client.get("/v1/report", params={"level": "day"}, headers=ADMIN).json()
            sections = document["advertisers"]
            return bool(sections) and sections[0]["totals"]["forwarded_revenue"] == "33"

        wait_for(ready)
        since = (today - timedelta(days=6)).isoformat()
        # The range in the advertiser's days (the default `until` is today in UTC, which may be a day ahead).
        window = {"since": since, "until": today.isoformat()}
        days = client.get("/v1/report", params={"level": "day", **window}, headers=ADMIN).json()
        section = days["advertisers"][0]
        assert (section["currency"], section["timezone"]) == ("USD", "America/Los_Angeles")
        assert [r["day"] for r in section["rows"]][-1] == today.isoformat() and len(section["rows"]) == 7
        assert section["latest_complete_day"] == (today - timedelta(days=1)).isoformat()
        spend = sum(Decimal(r["figures"]["spend"]) for r in section["rows"])
        assert Decimal(section["totals"]["figures"]["spend"]) == spend > 0
        todays = section["rows"][-1]
        assert todays["forwarded_revenue"] == "33"
        purchase_audit = [
            a for a in section["audit"] if a["event_name"] == "Purchase" and a["day"] == today.isoformat()
        ]
        assert purchase_audit[0]["sent"] == 3 and purchase_audit[0]["acknowledged"] == 3
        coverage = {c["event_name"]: c for c in days["coverage"]}
        assert coverage["Purchase"]["events"] == 3 and coverage["Purchase"]["shares"]["email"] == "1.0000"
        assert days["pulls"][0]["result"] == "ok" and days["puller"]["problem"] is None

        campaigns = client.get("/v1/report", params=window, headers=ADMIN).json()["advertisers"][0]
        assert {r["campaign_name"] for r in campaigns["rows"]} >= {"App installs - US broad", "Old test campaign"}
        assert sum(Decimal(r["figures"]["spend"]) for r in campaigns["rows"]) == spend

        scraped = client.get("/metrics", headers=ADMIN).text
        yesterday = next(r for r in section["rows"] if r["day"] == section["latest_complete_day"])
        spend_line = f'forwarder_report_figure{{advertiser_id="{US}",metric="spend"}} '
        assert float(scraped.split(spend_line)[1].split()[0]) == float(yesterday["figures"]["spend"])
        assert f'forwarder_report_kpi{{advertiser_id="{US}",kpi="cpi"}}' in scraped

        exported = client.get("/v1/report", params={**window, "format": "csv"}, headers=ADMIN)
        assert exported.headers["content-type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(lines) == len(campaigns["rows"]) and lines[0]["advertiser_id"] == US


def test_bad_parameters_and_missing_credentials_are_refused(tmp_path: Path) -> None:
    with open_app(report_settings(tmp_path)) as client:
        assert client.get("/v1/report").status_code == 401
        for params, field in (
            ({"since": "yesterday"}, "since"),
            ({"since": "2026-11-02", "until": "2026-11-01"}, "until"),
            ({"since": "2020-01-01", "until": "2026-11-01"}, "since"),
            ({"since": "9999-12-31", "until": "9999-12-31"}, "since"),
            ({"level": "ad"}, "level"),
            ({"format": "xml"}, "format"),
        ):
            answer = client.get("/v1/report", params=params, headers=ADMIN)
            assert (answer.status_code, answer.json()["field"]) == (400, field)
        empty = client.get("/v1/report", headers=ADMIN).json()
        assert empty["level"] == "campaign" and isinstance(empty["advertisers"], list)
    assert time.time()  # the app stopped cleanly with the puller running


def test_the_cli_reads_the_same_report_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = report_settings(tmp_path)
    with open_app(settings) as client:
        wait_for(lambda: bool(client.get("/v1/report", headers=ADMIN).json()["advertisers"]))
        served = client.get("/v1/report", params={"level": "day"}, headers=ADMIN).json()
    config = service_config(tmp_path / "config.toml", watch_config=None, store_url=settings.store.url)
    assert main(["report", "--config", str(config), "--by", "day", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["advertisers"][0]["totals"]["figures"] == served["advertisers"][0]["totals"]["figures"]
    assert main(["report", "--config", str(config), "--by", "campaign", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("advertiser_id,currency,campaign_id,campaign_name,spend,")
    assert main(["report", "--config", str(config), "--by", "day", "--format", "table"]) == 0
    assert capsys.readouterr().out.split()[:3] == ["advertiser_id", "day", "spend"]
    assert main(["report", "--config", str(config), "--since", "soon"]) == 2

"""The report puller against the Marketing API emulator and a real SQLite store: every page of each window stored,
restated past days followed, rate limits backed off, a refused credential paused."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from forwarder.marketing.connection import Connection
from forwarder.marketing_emulator import MarketingState, create_marketing_emulator
from forwarder.marketing_emulator.control import configure
from forwarder.marketing_emulator.report_data import campaigns, daily
from forwarder.reporting.pull import windows
from forwarder.reporting.puller import ReportPuller
from forwarder.settings import Settings
from forwarder.store import SQLiteStore
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio
US = "7002238017842757633"
ZONE = ZoneInfo("America/Los_Angeles")


@dataclass
class Rig:
    puller: ReportPuller
    store: SQLiteStore
    emulator: MarketingState
    settings: Settings


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    settings = make_settings(
        tmp_path,
        marketing={"base_url": "http://emulator", "access_token": "emulator-token", "advertiser_ids": [US]},
        reporting={"trailing_days": 7, "page_size": 3, "retry_s": 5},
    )
    emulator = MarketingState()
    store = SQLiteStore(tmp_path / "forwarder.db")
    await store.open()
    transport = httpx.ASGITransport(app=create_marketing_emulator(emulator))
    async with httpx.AsyncClient(transport=transport) as http:
        connection = Connection(settings, store, http, time.time)
        yield Rig(ReportPuller(connection, lambda: settings, "test-owner", time.time), store, emulator, settings)
    await store.close()


def today() -> date:
    return datetime.now(ZONE).date()


def expected(day: date, metric: str, factor: float = 1.0) -> Decimal:
    """What the emulator reports for the advertiser on a past day, deleted campaigns included."""
    return sum((daily(US, c, day, factor, 1.0)[metric] for c in campaigns(US)), Decimal(0))


def test_windows_stay_within_thirty_days() -> None:
    start = date(2026, 1, 1)
    cut = windows(start, start + timedelta(days=64))
    assert [(a.day, b.day, (b - a).days + 1) for a, b in cut] == [(1, 30, 30), (31, 1, 30), (2, 6, 5)]
    assert windows(start, start) == [(start, start)]


async def test_a_trailing_pull_stores_every_page_and_marks_the_days_complete(rig: Rig) -> None:
    assert await rig.puller.step() == 1.0
    days = {d["day"]: d["day_over"] for d in await rig.store.report_days()}
    wanted = [today() - timedelta(days=n) for n in range(7, -1, -1)]
    assert days == {day.isoformat(): day < today() for day in wanted}
    past = today() - timedelta(days=2)
    rows = await rig.store.report_rows(past.isoformat(), past.isoformat())
    advertiser = [r for r in rows if r["level"] == "advertiser"]
    campaign_rows = [r for r in rows if r["level"] == "campaign"]
    assert advertiser[0]["spend"] == expected(past, "spend")
    # Campaigns (the deleted one asked for too) add up to the advertiser's total, to the cent.
    assert sum((r["spend"] for r in campaign_rows), Decimal(0)) == advertiser[0]["spend"]
    assert advertiser[0]["app_install"] == expected(past, "app_install")
    pulls = await rig.store.report_pulls(10)
    assert pulls[0]["result"] == "ok" and pulls[0]["pages"] > 2 and pulls[0]["request_id"]
    report_calls = [r for r in rig.emulator.requests if r["path"].endswith("/report/integrated/get/")]
    assert len(report_calls) == pulls[0]["pages"] and all(r["answer"] == "0" for r in report_calls)


async def test_a_restated_past_day_replaces_the_stored_figures(rig: Rig) -> None:
    await rig.puller.step()
    past = today() - timedelta(days=3)
    before = await rig.store.report_rows(past.isoformat(), past.isoformat())
    configure(rig.emulator, {"restate": [{"advertiser_id": US, "day": past.isoformat(), "factor": 1.5}]})
    rig.puller.due["trailing"] = 0.0  # as the next daily pull would
    await rig.puller.step()
    after = await rig.store.report_rows(past.isoformat(), past.isoformat())
    total = next(r for r in after if r["level"] == "advertiser")
    assert total["app_install"] == expected(past, "app_install", 1.5)
    assert total["app_install"] != next(r for r in before if r["level"] == "advertiser")["app_install"]
    assert total["spend"] == expected(past, "spend")  # restatement moves attributed results, not spend
    assert len(after) == len(before)


async def test_a_rate_limit_backs_off_and_is_logged_then_the_pull_succeeds(rig: Rig) -> None:
    configure(rig.emulator, {"responses": [{"code": 40100, "message": "App reaches the QPS limit."}]})
    assert await rig.puller.step() == 5.0
    assert rig.puller.problem is not None and rig.puller.problem["problem"] == "rate_limited"
    assert (await rig.store.report_pulls(1))[0]["result"] == "rate_limited"
    assert await rig.store.report_days() == []
    configure(rig.emulator, {"responses": [{"code": 40100}]})
    rig.puller.due["trailing"] = 0.0
    assert await rig.puller.step() == 10.0  # doubled
    rig.puller.due["trailing"] = 0.0
    assert await rig.puller.step() == 1.0
    assert rig.puller.problem is None and await rig.store.report_days()


async def test_a_refused_credential_pauses_pulling(rig: Rig) -> None:
    configure(rig.emulator, {"revoke_tokens": ["emulator-token"]})
    assert await rig.puller.step() == 900.0
    assert rig.puller.problem is not None and rig.puller.problem["problem"] == "invalid_connection"
    asked = len(rig.emulator.requests)
    assert await rig.puller.step() > 800  # paused: TikTok is not asked again with the refused token
    assert len(rig.emulator.requests) == asked


async def test_today_is_refreshed_alone_between_daily_pulls(rig: Rig) -> None:
    await rig.puller.step()
    rig.puller.due["today"] = 0.0
    await rig.puller.step()
    latest = (await rig.store.report_pulls(1))[0]
    assert (latest["what"], latest["since"], latest["until"]) == ("today", today().isoformat(), today().isoformat())

"""Report storage, run against both backends: exact decimals, upserts, complete days only with every page, the
pull log and the pull lease."""

from __future__ import annotations

from decimal import Decimal

import pytest

from forwarder.errors import Outcome
from forwarder.reporting.rows import METRICS
from forwarder.store import IngestWrite, OutboxItem, Resolution, State, Store
from forwarder.store.reports import METRIC_COLUMNS, ReportPull, StoredRow

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0
ADVERTISER = "7002238017842757633"


def metrics(spend: str | None, **others: str | None) -> tuple[Decimal | None, ...]:
    values = {"spend": spend, **others}
    return tuple(None if values.get(name) is None else Decimal(str(values[name])) for name in METRIC_COLUMNS)


def pull(rows: list[StoredRow], days: list[tuple[str, bool]], at: float) -> ReportPull:
    return ReportPull(
        advertiser_id=ADVERTISER,
        advertiser_name="Emulated Apps US",
        currency="USD",
        timezone="America/Los_Angeles",
        since=days[0][0],
        until=days[-1][0],
        what="trailing",
        rows=rows,
        days=days,
        levels=["campaign", "advertiser"],
        pages=2,
        request_id="req-1",
        at=at,
    )


def test_the_store_keeps_every_metric_the_row_model_has() -> None:
    assert METRIC_COLUMNS == METRICS


async def test_rows_are_exact_upserted_and_restated_days_replace_what_they_lost(any_store: Store) -> None:
    first = [
        StoredRow("campaign", "c1", "2026-11-28", "USD", "Installs", metrics("10.015", impressions="1000")),
        StoredRow("campaign", "c2", "2026-11-28", "USD", None, metrics("0.10", impressions=None)),
        StoredRow("advertiser", ADVERTISER, "2026-11-28", "USD", None, metrics("10.115", impressions="1000")),
    ]
    await any_store.store_report_pull(pull(first, [("2026-11-28", True)], NOW))
    rows = await any_store.report_rows("2026-11-28", "2026-11-28")
    assert [(r["level"], r["object_id"], r["spend"], r["impressions"]) for r in rows] == [
        ("advertiser", ADVERTISER, Decimal("10.115"), Decimal("1000")),
        ("campaign", "c1", Decimal("10.015"), Decimal("1000")),
        ("campaign", "c2", Decimal("0.10"), None),  # "-" stays unknown, never 0
    ]
    assert rows[1]["campaign_name"] == "Installs" and rows[1]["conversion"] is None
    # TikTok restates the day: c1 grows, c2 no longer has a row.
    restated = [
        StoredRow("campaign", "c1", "2026-11-28", "USD", "Installs", metrics("12.5", impressions="1200")),
        StoredRow("advertiser", ADVERTISER, "2026-11-28", "USD", None, metrics("12.5", impressions="1200")),
    ]
    await any_store.store_report_pull(pull(restated, [("2026-11-28", True)], NOW + 60))
    rows = await any_store.report_rows("2026-11-01", "2026-11-30")
    assert [(r["object_id"], r["spend"]) for r in rows] == [(ADVERTISER, Decimal("12.5")), ("c1", Decimal("12.5"))]
    days = await any_store.report_days()
    assert [(d["advertiser_id"], d["day"], d["pulled_at"], d["day_over"]) for d in days] == [
        (ADVERTISER, "2026-11-28", NOW + 60, True)
    ]
    assert await any_store.report_advertisers() == [
        {"advertiser_id": ADVERTISER, "name": "Emulated Apps US", "currency": "USD", "timezone": "America/Los_Angeles"}
    ]
    log = await any_store.report_pulls(10)
    assert [(p["at"], p["result"], p["rows"], p["request_id"]) for p in log] == [
        (NOW + 60, "ok", 2, "req-1"),
        (NOW, "ok", 3, "req-1"),
    ]


async def test_a_refused_pull_is_logged_and_marks_nothing_complete(any_store: Store) -> None:
    line = (NOW, ADVERTISER, "2026-11-24", "2026-11-30", "trailing", 1, 0, "req-x", "rate_limited", "40100")
    await any_store.log_report_pull(line)
    assert (await any_store.report_pulls(5))[0]["result"] == "rate_limited"
    assert await any_store.report_days() == [] and await any_store.report_rows("2026-11-24", "2026-11-30") == []


async def test_one_replica_holds_the_pull_lease_until_it_expires(any_store: Store) -> None:
    assert await any_store.take_report_lease("A", NOW, 300)
    assert not await any_store.take_report_lease("B", NOW + 10, 300)
    assert await any_store.take_report_lease("A", NOW + 20, 300)  # renewed
    assert not await any_store.take_report_lease("B", NOW + 300, 300)
    assert await any_store.take_report_lease("B", NOW + 321, 300)  # A's lease ran out
    assert not await any_store.take_report_lease("A", NOW + 322, 300)


async def test_forwarded_items_are_the_rows_sent_at_least_once_without_test_events(any_store: Store) -> None:
    payload = b'{"event":"Purchase","event_time":1800000000,"properties":{"value":5,"currency":"USD"}}'
    items = [
        OutboxItem("d", "Purchase", "sent", payload),
        OutboxItem("d", "Purchase", "test", payload, "TEST123"),
        OutboxItem("d", "Purchase", "waiting", payload),
    ]
    await any_store.enqueue(IngestWrite(items), NOW)
    claimed = await any_store.claim_due("A", "d", 2, NOW, 30)  # "waiting" is never sent
    done = Resolution([c.id for c in claimed], State.DELIVERED, Outcome(200, 0, "OK", "r"))
    await any_store.resolve("A", [done], NOW + 1)
    found = await any_store.forwarded_items(NOW - 1, NOW + 1, 100)
    assert [(e, i, s, p) for e, i, s, p in found] == [("Purchase", "sent", State.DELIVERED, payload)]

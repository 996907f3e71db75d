"""Sums of report rows over an inclusive date range: in total, per campaign and per day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from forwarder.reporting.rows import Figures, Level, ReportRow


def in_range(rows: Iterable[ReportRow], since: date, until: date, *, level: Level) -> list[ReportRow]:
    """Rows of one level whose day lies in `since..until`, both inclusive (TikTok's own convention)."""
    if until < since:
        raise ValueError(f"empty date range: {since} .. {until}")
    return [row for row in rows if row.level == level and since <= row.day <= until]


def total(rows: Iterable[ReportRow], since: date, until: date, *, level: Level = "campaign") -> Figures:
    """The sums of one level over the range; advertiser level also counts deleted campaigns."""
    result = Figures()
    for row in in_range(rows, since, until, level=level):
        result += row.figures
    return result


def by_campaign(rows: Iterable[ReportRow], since: date, until: date) -> dict[str, Figures]:
    """Per campaign id, the sums over the range."""
    result: dict[str, Figures] = {}
    for row in in_range(rows, since, until, level="campaign"):
        assert row.campaign_id is not None
        result[row.campaign_id] = result.get(row.campaign_id, Figures()) + row.figures
    return result


def by_day(rows: Iterable[ReportRow], since: date, until: date, *, level: Level = "advertiser") -> dict[date, Figures]:
    """Per advertiser day, the sums of one level; days without a row are absent, not zero."""
    result: dict[date, Figures] = {}
    for row in in_range(rows, since, until, level=level):
        result[row.day] = result.get(row.day, Figures()) + row.figures
    return result


def currencies(rows: Iterable[ReportRow]) -> set[str]:
    """The currencies rows carry; more than one means sums across them are meaningless."""
    return {row.currency for row in rows}

"""Trends by day, ISO week and month, and the Sent > Converted funnel (forwarder/audiences/trends.py)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from forwarder.audiences.outcomes import Conversion, Group, UserOutcome
from forwarder.audiences.trends import Funnel, Period, TrendPoint, funnel, period_label, trend

WINDOW = timedelta(days=7)


def at(day: int, month: int = 12, year: int = 2026, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "period", "label"),
    [
        (at(1), Period.DAY, "2026-12-01"),
        (at(1), Period.WEEK, "2026-W49"),
        (at(1), Period.MONTH, "2026-12"),
        (at(1, 1, 2027), Period.WEEK, "2026-W53"),  # 1 January 2027 is a Friday in ISO week 53 of 2026
        (at(4, 1, 2027), Period.WEEK, "2027-W01"),
    ],
)
def test_period_labels(when: datetime, period: Period, label: str) -> None:
    assert period_label(when, period) == label


def test_periods_follow_the_given_time_zone() -> None:
    """02:00 UTC on 1 December is still 30 November in UTC-8, the advertiser's day."""
    pacific = timezone(timedelta(hours=-8))
    assert period_label(at(1, hour=2), Period.DAY, pacific) == "2026-11-30"
    assert period_label(at(1, hour=2), Period.MONTH, pacific) == "2026-11"


def outcomes() -> list[UserOutcome]:
    return [
        # started 30 Nov, bought 1 Dec (10) and 3 Dec (5), and once after the window (ignored)
        UserOutcome(
            Group.MEMBERS,
            at(30, 11),
            (Conversion(at(1), 10.0), Conversion(at(3), 5.0), Conversion(at(30, 11) + WINDOW, 99.0)),
        ),
        UserOutcome(Group.MEMBERS, at(1), ()),
        UserOutcome(Group.CONTROL, at(1), (Conversion(at(2), 7.0),)),
    ]


def test_trend_by_day() -> None:
    """Started by the opening day, converted by the first conversion's day, revenue by each conversion's day."""
    assert trend(outcomes(), period=Period.DAY, window=WINDOW) == [
        TrendPoint("2026-11-30", Group.MEMBERS, started=1),
        TrendPoint("2026-12-01", Group.MEMBERS, started=1, converted=1, conversions=1, revenue=10.0),
        TrendPoint("2026-12-01", Group.CONTROL, started=1),
        TrendPoint("2026-12-02", Group.CONTROL, converted=1, conversions=1, revenue=7.0),
        TrendPoint("2026-12-03", Group.MEMBERS, conversions=1, revenue=5.0),
    ]


def test_trend_by_iso_week_and_month() -> None:
    """30 November 2026 is a Monday, so the whole example falls in ISO week 49 but spans two months."""
    assert trend(outcomes(), period=Period.WEEK, window=WINDOW) == [
        TrendPoint("2026-W49", Group.MEMBERS, started=2, converted=1, conversions=2, revenue=15.0),
        TrendPoint("2026-W49", Group.CONTROL, started=1, converted=1, conversions=1, revenue=7.0),
    ]
    assert trend(outcomes(), period=Period.MONTH, window=WINDOW) == [
        TrendPoint("2026-11", Group.MEMBERS, started=1),
        TrendPoint("2026-12", Group.MEMBERS, started=1, converted=1, conversions=2, revenue=15.0),
        TrendPoint("2026-12", Group.CONTROL, started=1, converted=1, conversions=1, revenue=7.0),
    ]


def test_funnel_sent_then_converted() -> None:
    """Two members sent, one converted; one held out, one converted."""
    result = funnel(outcomes(), window=WINDOW)
    assert result == Funnel(sent=2, converted=1, held_out=1, held_out_converted=1)
    assert result.conversion_rate == 0.5


def test_empty_funnel_has_no_rate() -> None:
    assert funnel([], window=WINDOW).conversion_rate is None

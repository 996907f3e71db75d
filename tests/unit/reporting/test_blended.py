"""Blended ROAS: acknowledged forwarded revenue per Los Angeles day, converted with a dated rate table."""

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from forwarder.reporting.blended import blended_by_day, blended_roas
from forwarder.reporting.forwarded import ForwardedEvent, advertiser_day, revenue_by_day
from forwarder.reporting.rates import Rate, RateTable
from forwarder.reporting.rows import Figures

LA = ZoneInfo("America/Los_Angeles")
MAR7, MAR8, MAR9 = date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)  # DST starts 2026-03-08 02:00 in LA
RATES = RateTable.of(
    [
        Rate(date(2026, 3, 1), "EUR", "USD", Decimal("1.10")),
        Rate(MAR9, "EUR", "USD", Decimal("1.20")),
    ]
)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _purchase(event_id: str, at: str, value: str, currency: str = "USD", *, ack: bool = True) -> ForwardedEvent:
    return ForwardedEvent(event_id, "Purchase", _utc(at), ack, Decimal(value), currency)


EVENTS = [
    _purchase("p1", "2026-03-08T07:30:00", "10.00"),  # 23:30 PST on Mar 7
    _purchase("p2", "2026-03-08T08:30:00", "20.00"),  # 00:30 PST on Mar 8
    _purchase("p2", "2026-03-08T08:30:00", "20.00"),  # the same event_id again: counted once
    _purchase("p3", "2026-03-08T18:00:00", "10.00", "EUR"),  # Mar 8: the Mar 1 rate, 1.10 -> 11.00
    _purchase("p4", "2026-03-09T07:30:00", "10.00", "EUR"),  # 00:30 PDT on Mar 9 (23:30 if read as PST): 1.20
    _purchase("p5", "2026-03-08T20:00:00", "100.00", ack=False),  # TikTok did not acknowledge it
    ForwardedEvent("i1", "InstallApp", _utc("2026-03-08T20:00:00"), True),  # no value
]
SPEND = {MAR7: Figures(spend=Decimal(50)), MAR8: Figures(spend=Decimal(100)), MAR9: Figures(spend=Decimal(50))}


@pytest.mark.parametrize(
    ("at", "day"),
    [
        ("2026-03-08T07:59:59", MAR7),  # 23:59:59 PST
        ("2026-03-08T08:00:00", MAR8),  # midnight PST
        ("2026-03-09T06:59:59", MAR8),  # 23:59:59 PDT: after the change, midnight is 07:00 UTC
        ("2026-03-09T07:00:00", MAR9),
        ("2026-11-01T06:59:59", date(2026, 10, 31)),  # PDT
        ("2026-11-02T07:30:00", date(2026, 11, 1)),  # 23:30 PST: after DST ends, midnight is 08:00 UTC
        ("2026-11-02T08:00:00", date(2026, 11, 2)),
    ],
)
def test_events_fall_on_the_advertiser_day_across_midnight_and_dst(at: str, day: date) -> None:
    assert advertiser_day(_utc(at), LA) == day


def test_a_naive_event_time_is_refused() -> None:
    with pytest.raises(ValueError, match="without a time zone"):
        advertiser_day(datetime(2026, 3, 8, 12), LA)


def test_rate_of_the_day_or_the_latest_earlier_one() -> None:
    assert RATES.lookup("EUR", "USD", MAR8) == Rate(date(2026, 3, 1), "EUR", "USD", Decimal("1.10"))
    assert RATES.lookup("eur", "usd", MAR9) == Rate(MAR9, "EUR", "USD", Decimal("1.20"))
    assert RATES.lookup("EUR", "USD", date(2026, 2, 28)) is None
    assert RATES.lookup("USD", "EUR", MAR9) is None  # no inverse is derived
    assert RATES.lookup("USD", "usd", MAR9) == Rate(MAR9, "USD", "USD", Decimal(1))


def test_revenue_is_bucketed_by_advertiser_day_and_converted() -> None:
    revenue = revenue_by_day(EVENTS, timezone=LA, currency="USD", rates=RATES)
    assert {day: r.amount for day, r in revenue.items()} == {
        MAR7: Decimal("10.00"),
        MAR8: Decimal("31.0000"),  # 20.00 + 10.00 EUR x 1.10
        MAR9: Decimal("12.0000"),  # 10.00 EUR x 1.20
    }
    assert all(not r.unconverted and not r.warnings for r in revenue.values())


def test_blended_roas_over_a_range_and_per_day() -> None:
    revenue = revenue_by_day(EVENTS, timezone=LA, currency="USD", rates=RATES)
    blended = blended_roas(revenue, SPEND, MAR7, MAR9)
    assert (blended.revenue, blended.spend) == (Decimal(53), Decimal(200))  # 10 + 31 + 12; 50 + 100 + 50
    assert blended.roas == Decimal("0.265")  # 53 / 200
    per_day = blended_by_day(revenue, SPEND, MAR7, MAR9)
    assert [per_day[d].roas for d in (MAR7, MAR8, MAR9)] == [Decimal("0.2"), Decimal("0.31"), Decimal("0.24")]


def test_a_day_without_spend_gives_no_value_and_unknown_spend_stays_unknown() -> None:
    revenue = revenue_by_day(EVENTS, timezone=LA, currency="USD", rates=RATES)
    assert blended_roas(revenue, {}, MAR7, MAR7).roas is None  # 10 / 0
    unknown = {**SPEND, MAR8: Figures(spend=None)}
    blended = blended_roas(revenue, unknown, MAR7, MAR9)
    assert (blended.spend, blended.roas) == (None, None)


def test_currency_without_a_rate_is_shown_unconverted_with_a_warning() -> None:
    """A GBP purchase with no GBP->USD rate: the figure stays in GBP, blended ROAS gives no value."""
    events = [*EVENTS, _purchase("g1", "2026-03-08T18:00:00", "7.50", "GBP")]
    revenue = revenue_by_day(events, timezone=LA, currency="USD", rates=RATES)
    assert revenue[MAR8].amount == Decimal("31.0000")
    assert revenue[MAR8].unconverted == {"GBP": Decimal("7.50")}
    assert revenue[MAR8].warnings == (
        "2026-03-08: revenue of 7.50 GBP has no GBP->USD rate on or before that day;"
        " shown unconverted and left out of blended ROAS",
    )
    blended = blended_roas(revenue, SPEND, MAR7, MAR9)
    assert (blended.revenue, blended.unconverted, blended.roas) == (Decimal(53), {"GBP": Decimal("7.50")}, None)
    assert blended.warnings == revenue[MAR8].warnings
    assert blended_roas(revenue, SPEND, MAR9, MAR9).roas == Decimal("0.24")  # other days unaffected


def test_rate_dated_after_the_event_is_not_used() -> None:
    rates = RateTable.of([Rate(MAR9, "EUR", "USD", Decimal("1.20"))])
    revenue = revenue_by_day(EVENTS, timezone=LA, currency="USD", rates=rates)
    assert revenue[MAR8].unconverted == {"EUR": Decimal("10.00")}
    assert revenue[MAR9].amount == Decimal("12.0000")


def test_revenue_without_a_currency_is_unconverted() -> None:
    events = [ForwardedEvent("x", "Purchase", _utc("2026-03-08T18:00:00"), True, Decimal(5))]
    revenue = revenue_by_day(events, timezone=LA, currency="USD", rates=RATES)
    assert revenue[MAR8].unconverted == {"(none)": Decimal(5)}
    assert "without a currency" in revenue[MAR8].warnings[0]


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateTable.of([Rate(MAR9, "EUR", "USD", Decimal(0))])

"""What we forwarded, as plain data, and its revenue per advertiser day in the advertiser's currency."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from forwarder.reporting.rates import RateTable

REVENUE_EVENTS = frozenset({"Purchase", "CompletePayment", "Subscribe"})
NO_CURRENCY = "(none)"


@dataclass(frozen=True)
class ForwardedEvent:
    """One event we sent to TikTok: `acknowledged` when TikTok answered code 0; `match_keys` the fields it carried."""

    event_id: str
    event_name: str
    event_time: datetime
    acknowledged: bool
    value: Decimal | None = None
    currency: str | None = None
    match_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DayRevenue:
    """Acknowledged revenue of one advertiser day: converted, plus what could not be, in its own currencies."""

    amount: Decimal = Decimal(0)
    unconverted: dict[str, Decimal] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def advertiser_day(event_time: datetime, timezone: ZoneInfo) -> date:
    """The calendar day of `event_time` in the advertiser's time zone, the day TikTok reports it under."""
    if event_time.tzinfo is None:
        raise ValueError(f"event_time without a time zone: {event_time.isoformat()}")
    return event_time.astimezone(timezone).date()


def unique(events: Iterable[ForwardedEvent]) -> Iterator[ForwardedEvent]:
    """Each event_id once, preferring an acknowledged copy: TikTok deduplicates by event_id too."""
    chosen: dict[str, ForwardedEvent] = {}
    for event in events:
        if event.event_id not in chosen or (event.acknowledged and not chosen[event.event_id].acknowledged):
            chosen[event.event_id] = event
    return iter(chosen.values())


def revenue_by_day(
    events: Iterable[ForwardedEvent],
    *,
    timezone: ZoneInfo,
    currency: str,
    rates: RateTable,
    revenue_events: frozenset[str] = REVENUE_EVENTS,
) -> dict[date, DayRevenue]:
    """Revenue TikTok acknowledged per advertiser day, converted at the rate of the event's day (or an earlier one)."""
    amounts: dict[date, Decimal] = {}
    unconverted: dict[date, dict[str, Decimal]] = {}
    for event in unique(events):
        if not event.acknowledged or event.value is None or event.event_name not in revenue_events:
            continue
        day = advertiser_day(event.event_time, timezone)
        amounts.setdefault(day, Decimal(0))
        rate = rates.lookup(event.currency, currency, day) if event.currency else None
        if rate is None:
            bucket = unconverted.setdefault(day, {})
            key = event.currency.upper() if event.currency else NO_CURRENCY
            bucket[key] = bucket.get(key, Decimal(0)) + event.value
        else:
            amounts[day] += event.value * rate.rate
    return {
        day: DayRevenue(
            amount=amount,
            unconverted=unconverted.get(day, {}),
            warnings=tuple(_warning(day, code, value, currency) for code, value in unconverted.get(day, {}).items()),
        )
        for day, amount in sorted(amounts.items())
    }


def _warning(day: date, code: str, value: Decimal, currency: str) -> str:
    if code == NO_CURRENCY:
        return f"{day}: revenue of {value} without a currency is shown unconverted and left out of blended ROAS"
    return (
        f"{day}: revenue of {value} {code} has no {code}->{currency.upper()} rate on or before that day;"
        " shown unconverted and left out of blended ROAS"
    )

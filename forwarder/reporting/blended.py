"""Blended ROAS: revenue we forwarded that TikTok acknowledged / spend, per advertiser day and over a range."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from forwarder.reporting.forwarded import DayRevenue
from forwarder.reporting.rows import Figures
from forwarder.reporting.values import add, divide


@dataclass(frozen=True)
class Blended:
    """Forwarded revenue against spend; `roas` is `None` when spend is 0 or unknown, or any revenue is unconverted."""

    revenue: Decimal
    spend: Decimal | None
    roas: Decimal | None
    unconverted: dict[str, Decimal] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def blended_roas(
    revenue: Mapping[date, DayRevenue], spend_by_day: Mapping[date, Figures], since: date, until: date
) -> Blended:
    """Over `since..until` inclusive: Σ converted revenue / Σ spend, with days TikTok has no row for spending 0."""
    if until < since:
        raise ValueError(f"empty date range: {since} .. {until}")
    total_revenue = Decimal(0)
    spend: Decimal | None = Decimal(0)
    unconverted: dict[str, Decimal] = {}
    warnings: list[str] = []
    day = since
    while day <= until:
        day_revenue = revenue.get(day, DayRevenue())
        total_revenue += day_revenue.amount
        for code, value in day_revenue.unconverted.items():
            unconverted[code] = unconverted.get(code, Decimal(0)) + value
        warnings.extend(day_revenue.warnings)
        figures = spend_by_day.get(day)
        spend = add(spend, figures.spend if figures is not None else Decimal(0))
        day += timedelta(days=1)
    return Blended(
        revenue=total_revenue,
        spend=spend,
        roas=None if unconverted else divide(total_revenue, spend),
        unconverted=unconverted,
        warnings=tuple(warnings),
    )


def blended_by_day(
    revenue: Mapping[date, DayRevenue], spend_by_day: Mapping[date, Figures], since: date, until: date
) -> dict[date, Blended]:
    """One `Blended` per day of the range: the series behind "spend against forwarded revenue"."""
    result: dict[date, Blended] = {}
    day = since
    while day <= until:
        result[day] = blended_roas(revenue, spend_by_day, day, day)
        day += timedelta(days=1)
    return result

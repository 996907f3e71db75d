"""Typed report rows: campaign x day and advertiser x day, as `/report/integrated/get/` returns them.

Metric names are TikTok's (digest §8.3, bububa `model/report/metrics.go`): `app_install`, `conversion` (the
optimisation event), unique `purchase` / `start_trial` / `subscribe` / `registration` and their `total_*` counts,
`total_purchase_value` and `total_subscribe_value` in the advertiser's currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from forwarder.reporting.values import add, parse_decimal
from forwarder.store.reports import METRIC_COLUMNS

Level = Literal["campaign", "advertiser"]

# Every metric the row model keeps, in the order the puller requests them: the stores' columns, one list.
METRICS = METRIC_COLUMNS


@dataclass(frozen=True)
class Figures:
    """Raw sums for one row or many; `None` is a value TikTok reported as unknown."""

    spend: Decimal | None = Decimal(0)
    impressions: Decimal | None = Decimal(0)
    clicks: Decimal | None = Decimal(0)
    app_install: Decimal | None = Decimal(0)
    conversion: Decimal | None = Decimal(0)
    purchase: Decimal | None = Decimal(0)
    total_purchase: Decimal | None = Decimal(0)
    total_purchase_value: Decimal | None = Decimal(0)
    start_trial: Decimal | None = Decimal(0)
    total_start_trial: Decimal | None = Decimal(0)
    subscribe: Decimal | None = Decimal(0)
    total_subscribe: Decimal | None = Decimal(0)
    total_subscribe_value: Decimal | None = Decimal(0)
    registration: Decimal | None = Decimal(0)
    total_registration: Decimal | None = Decimal(0)

    def __add__(self, other: Figures) -> Figures:
        return Figures(**{name: add(getattr(self, name), getattr(other, name)) for name in METRICS})

    def metric(self, name: str) -> Decimal | None:
        """One metric by its TikTok name."""
        if name not in METRICS:
            raise KeyError(f"unknown report metric: {name}")
        value: Decimal | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class ReportRow:
    """One day of one campaign (`level="campaign"`) or of the whole advertiser (`level="advertiser"`, no campaign)."""

    level: Level
    advertiser_id: str
    campaign_id: str | None
    day: date
    currency: str
    figures: Figures
    campaign_name: str | None = None


def parse_row(item: Mapping[str, Any], *, advertiser_id: str, currency: str) -> ReportRow:
    """One element of `data.list`: `{"dimensions": {...}, "metrics": {...}}`; absent metrics are unknown."""
    dimensions: Mapping[str, Any] = item.get("dimensions") or {}
    metrics: Mapping[str, Any] = item.get("metrics") or {}
    campaign_id = dimensions.get("campaign_id")
    name = metrics.get("campaign_name")
    return ReportRow(
        level="campaign" if campaign_id is not None else "advertiser",
        advertiser_id=str(dimensions.get("advertiser_id") or advertiser_id),
        campaign_id=str(campaign_id) if campaign_id is not None else None,
        day=_stat_day(dimensions.get("stat_time_day")),
        currency=str(metrics.get("currency") or currency),
        figures=Figures(**{m: parse_decimal(metrics.get(m)) for m in METRICS}),
        campaign_name=str(name) if name not in (None, "-") else None,
    )


def _stat_day(raw: object) -> date:
    """`stat_time_day` arrives as `"2024-01-01 00:00:00"`: the advertiser's calendar day."""
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"report row without stat_time_day: {raw!r}")
    return datetime.fromisoformat(raw).date() if " " in raw or "T" in raw else date.fromisoformat(raw)

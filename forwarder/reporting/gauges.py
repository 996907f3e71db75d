"""What Prometheus shows of reporting: per advertiser, the figures and KPIs of its latest complete day (a day over
in its time zone and fully pulled). Recomputed only when a pull stored something new, not on every scrape."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..settings import Settings
from ..store import Store
from .report import build_report

GAUGE_FIGURES = ("spend", "impressions", "clicks", "app_install", "conversion", "total_purchase_value")
_cache: dict[str, Any] = {"key": None, "values": {}}


async def latest_day_values(store: Store, settings: Settings) -> dict[str, dict[str, Any]]:
    """advertiser_id -> {"day": date, "figures": {...}, "kpis": {...}} with values as decimal text or None."""
    days = await store.report_days()
    latest: dict[str, str] = {}
    for row in days:
        if row["day_over"]:
            latest[row["advertiser_id"]] = max(row["day"], latest.get(row["advertiser_id"], ""))
    key = (tuple(sorted(latest.items())), max((row["pulled_at"] for row in days), default=0.0))
    if key == _cache["key"]:
        return dict(_cache["values"])
    values: dict[str, dict[str, Any]] = {}
    for advertiser_id, day in latest.items():
        on = date.fromisoformat(day)
        document = await build_report(store, settings, on, on, "advertiser")
        for section in document["advertisers"]:
            if section["advertiser_id"] == advertiser_id:
                totals = section["totals"]
                kpis = {**totals["kpis"], "blended_roas": totals["blended_roas"]}
                figures = {name: totals["figures"][name] for name in GAUGE_FIGURES}
                figures["forwarded_revenue"] = totals["forwarded_revenue"]
                values[advertiser_id] = {"day": on, "figures": figures, "kpis": kpis}
    _cache.update(key=key, values=values)
    return dict(values)

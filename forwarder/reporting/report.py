"""The report document `/v1/report`, `forwarder report`, the status page and the gauges share: per advertiser,
TikTok's sums and KPIs by campaign, day or in total, blended ROAS against what we forwarded, the audit and
match-key coverage. Money is in each advertiser's currency; decimals are strings (exact), "no value" is null."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ..settings import Settings
from ..store import Store
from . import aggregate
from .audit import AuditThresholds, audit
from .blended import Blended, blended_by_day, blended_roas
from .coverage import coverage
from .forwarded import ForwardedEvent, revenue_by_day
from .kpis import compute_kpis
from .rates import load_rates
from .rows import METRICS, Figures, ReportRow
from .sources import forwarded_events, report_rows

ReportLevel = Literal["campaign", "day", "advertiser"]
LEVELS: tuple[ReportLevel, ...] = ("campaign", "day", "advertiser")
KPI_PLACES = Decimal("0.0001")


def text(value: Decimal | None, places: Decimal | None = None) -> str | None:
    """A decimal as exact text (or rounded to `places`), None staying None ("no value")."""
    if value is None:
        return None
    return str(value.quantize(places, ROUND_HALF_EVEN) if places is not None else value)


def figures_document(figures: Figures) -> dict[str, str | None]:
    return {name: text(figures.metric(name)) for name in METRICS}


def kpis_document(figures: Figures, settings: Settings) -> dict[str, str | None]:
    reporting = settings.reporting
    kpis = compute_kpis(figures, cpa_event=reporting.cpa_event, include_subscriptions=reporting.include_subscriptions)
    return {name: text(getattr(kpis, name), KPI_PLACES) for name in kpis.__dataclass_fields__}


def blended_document(blended: Blended) -> dict[str, Any]:
    return {
        "forwarded_revenue": text(blended.revenue),
        "spend": text(blended.spend),
        "blended_roas": text(blended.roas, KPI_PLACES),
        "unconverted": {code: text(value) for code, value in blended.unconverted.items()},
    }


def _line(settings: Settings, figures: Figures, **keys: Any) -> dict[str, Any]:
    return {**keys, "figures": figures_document(figures), "kpis": kpis_document(figures, settings)}


def advertiser_report(
    settings: Settings,
    advertiser: dict[str, Any],
    rows: list[ReportRow],
    events: list[ForwardedEvent],
    since: date,
    until: date,
    level: ReportLevel,
) -> dict[str, Any]:
    """One advertiser's section of the report."""
    reporting = settings.reporting
    zone = ZoneInfo(advertiser["timezone"])
    daily = aggregate.by_day(rows, since, until, level="advertiser")
    revenue = revenue_by_day(
        events,
        timezone=zone,
        currency=advertiser["currency"],
        rates=load_rates(reporting.rates_file),
        revenue_events=frozenset(reporting.revenue_events),
    )
    blended = blended_roas(revenue, daily, since, until)
    per_day = blended_by_day(revenue, daily, since, until)
    if level == "campaign":
        names = {r.campaign_id: r.campaign_name for r in rows if r.campaign_name}
        lines = [
            _line(settings, sums, campaign_id=campaign, campaign_name=names.get(campaign))
            for campaign, sums in sorted(aggregate.by_campaign(rows, since, until).items())
        ]
    elif level == "day":
        lines = [
            {**_line(settings, daily.get(day, Figures()), day=day.isoformat()), **blended_document(per_day[day])}
            for day in sorted(per_day)
        ]
    else:
        lines = []
    thresholds = AuditThresholds(Decimal(str(reporting.audit_far_fewer_ratio)), reporting.audit_min_acknowledged)
    return {
        **advertiser,
        "totals": {
            **_line(settings, aggregate.total(rows, since, until, level="advertiser")),
            **blended_document(blended),
        },
        "rows": lines,
        "series": [
            {"day": day.isoformat(), **blended_document(value), "attributed_revenue": _attributed(daily.get(day))}
            for day, value in sorted(per_day.items())
        ],
        "audit": [
            {
                "day": line.day.isoformat(),
                "event_name": line.event_name,
                "metric": line.metric,
                "sent": line.sent,
                "acknowledged": line.acknowledged,
                "reported": text(line.reported),
                "flags": list(line.flags),
            }
            for line in audit(events, daily, timezone=zone, thresholds=thresholds)
        ],
        "warnings": list(blended.warnings),
    }


def _attributed(figures: Figures | None) -> str | None:
    return text(figures.total_purchase_value) if figures is not None else None


def _coverage(events: Iterable[ForwardedEvent]) -> list[dict[str, Any]]:
    """Per event name, the share (0 to 1) of events carrying each match key."""
    return [
        {
            "event_name": c.event_name,
            "events": c.events,
            "shares": {k: text(v, KPI_PLACES) for k, v in c.shares.items()},
        }
        for c in coverage(events)
    ]


async def advertisers_today(store: Store, now: float) -> date:
    """Today as the report's default last day: the latest calendar day any advertiser has reached in its time zone
    (UTC's today before any pull), so a default range ends on the advertiser's own today."""
    zones = {advertiser["timezone"] for advertiser in await store.report_advertisers()}
    return max(datetime.fromtimestamp(now, ZoneInfo(zone)).date() for zone in zones or {"UTC"})


async def build_report(
    store: Store, settings: Settings, since: date, until: date, level: ReportLevel
) -> dict[str, Any]:
    """The whole report for `since..until` (advertiser days, inclusive)."""
    if until < since:
        raise ValueError(f"until ({until}) is before since ({since})")
    rows = await report_rows(store, since, until)
    events, partial = await forwarded_events(store, since, until)
    days = await store.report_days()
    advertisers = []
    for advertiser in sorted(await store.report_advertisers(), key=lambda a: a["advertiser_id"]):
        own = [row for row in rows if row.advertiser_id == advertiser["advertiser_id"]]
        section = advertiser_report(settings, advertiser, own, events, since, until, level)
        complete = [d["day"] for d in days if d["advertiser_id"] == advertiser["advertiser_id"] and d["day_over"]]
        section["latest_complete_day"] = max(complete, default=None)
        section["complete_days"] = sorted(d for d in complete if since.isoformat() <= d <= until.isoformat())
        advertisers.append(section)
    warnings = ["more events were forwarded than one report reads: the forwarded side is partial"] if partial else []
    if len(advertisers) > 1:
        warnings.append("forwarded events are compared with every advertiser: they carry no advertiser id")
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "level": level,
        "advertisers": advertisers,
        "coverage": _coverage(events),
        "pulls": await store.report_pulls(10),
        "warnings": warnings,
    }

"""One pull of one advertiser: its currency and time zone, then campaign x day and advertiser x day, every page of
every window of at most 30 days; each window is stored at once with its complete days (store/reports.py).

TikTok's limits (digest §8): `stat_time_day` windows of at most 30 days, pages of at most 1,000 rows, dates in the
advertiser's time zone. Campaign level asks for deleted campaigns too, so campaigns sum to the advertiser's total.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import structlog

from ..marketing.client import MarketingClient
from ..settings_reporting import ReportingSettings
from ..store import Store
from ..store.reports import ReportPull, StoredRow
from .rows import METRICS, parse_row

log = structlog.get_logger(__name__)
WINDOW_DAYS = 30  # TikTok's limit with the stat_time_day dimension
LEVELS = {"campaign": ("AUCTION_CAMPAIGN", "campaign_id"), "advertiser": ("AUCTION_ADVERTISER", "advertiser_id")}
ALL_CAMPAIGNS = [{"field_name": "campaign_status", "filter_type": "IN", "filter_value": json.dumps(["STATUS_ALL"])}]
What = Literal["today", "trailing"]


@dataclass(frozen=True)
class Advertiser:
    advertiser_id: str
    name: str
    currency: str
    timezone: str


def windows(since: date, until: date, days: int = WINDOW_DAYS) -> list[tuple[date, date]]:
    """`since..until` inclusive cut into consecutive windows of at most `days` days."""
    result = []
    start = since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        result.append((start, end))
        start = end + timedelta(days=1)
    return result


def days_of(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


async def advertisers(client: MarketingClient, token: str, ids: list[str]) -> list[Advertiser]:
    """Currency and time zone of each advertiser (`/advertiser/info/`)."""
    answer = await client.get("/advertiser/info/", token, {"advertiser_ids": ids})
    listed = answer.data.get("list") or []
    return [
        Advertiser(str(a["advertiser_id"]), str(a.get("name") or ""), str(a["currency"]), str(a["timezone"]))
        for a in listed
    ]


async def reachable_advertisers(client: MarketingClient, token: str, app_id: str, secret: str) -> list[str]:
    """Every advertiser the token reaches (`/oauth2/advertiser/get/`), when no list is configured."""
    answer = await client.get("/oauth2/advertiser/get/", token, {"app_id": app_id, "secret": secret})
    return [str(a["advertiser_id"]) for a in answer.data.get("list") or []]


def _metrics(settings: ReportingSettings, level: str) -> list[str]:
    wanted = ["spend", "impressions", "clicks", "app_install", *settings.conversion_events]
    return [*wanted, "campaign_name"] if level == "campaign" else wanted


async def pull_advertiser(
    client: MarketingClient,
    token: str,
    store: Store,
    advertiser: Advertiser,
    settings: ReportingSettings,
    what: What,
    clock: Callable[[], float],
) -> list[ReportPull]:
    """Pull today, or the trailing days through today, of one advertiser; store each window as it completes."""
    zone = ZoneInfo(advertiser.timezone)
    today = datetime.fromtimestamp(clock(), zone).date()
    since = today if what == "today" else today - timedelta(days=settings.trailing_days)
    stored = []
    for window in windows(since, today):
        rows: list[StoredRow] = []
        pages, request_id = 0, None
        for level, (data_level, id_dimension) in LEVELS.items():
            page, total_pages = 1, 1
            while page <= total_pages:
                params: dict[str, Any] = {
                    "advertiser_id": advertiser.advertiser_id,
                    "report_type": "BASIC",
                    "service_type": "AUCTION",
                    "data_level": data_level,
                    "dimensions": [id_dimension, "stat_time_day"],
                    "metrics": _metrics(settings, level),
                    "start_date": window[0].isoformat(),
                    "end_date": window[1].isoformat(),
                    "page": page,
                    "page_size": settings.page_size,
                }
                if level == "campaign":
                    params["filtering"] = ALL_CAMPAIGNS
                answer = await client.get("/report/integrated/get/", token, params)
                pages += 1
                request_id = request_id or answer.request_id
                info = answer.data.get("page_info") or {}
                total_pages = int(info.get("total_page") or 1)
                for item in answer.data.get("list") or []:
                    rows.append(_stored(item, advertiser))
                page += 1
        pull = ReportPull(
            advertiser_id=advertiser.advertiser_id,
            advertiser_name=advertiser.name,
            currency=advertiser.currency,
            timezone=advertiser.timezone,
            since=window[0].isoformat(),
            until=window[1].isoformat(),
            what=what,
            rows=rows,
            days=[(day.isoformat(), day < today) for day in days_of(*window)],
            levels=list(LEVELS),
            pages=pages,
            request_id=request_id,
            at=clock(),
        )
        await store.store_report_pull(pull)
        log.info(
            "reporting.pulled",
            advertiser_id=advertiser.advertiser_id,
            since=pull.since,
            until=pull.until,
            what=what,
            pages=pages,
            rows=len(rows),
            request_id=request_id,
        )
        stored.append(pull)
    return stored


def _stored(item: dict[str, Any], advertiser: Advertiser) -> StoredRow:
    row = parse_row(item, advertiser_id=advertiser.advertiser_id, currency=advertiser.currency)
    return StoredRow(
        level=row.level,
        object_id=row.campaign_id if row.campaign_id is not None else row.advertiser_id,
        day=row.day.isoformat(),
        currency=row.currency,
        campaign_name=row.campaign_name,
        metrics=tuple(row.figures.metric(name) for name in METRICS),
    )

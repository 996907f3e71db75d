"""`GET /report/integrated/get/` (synchronous BASIC reports) and `GET /advertiser/info/` (digest §8, §1.1).

Enforced as the digest lists: `advertiser_id`, `report_type`, `data_level` (for BASIC), `dimensions` required;
`metrics` default ["spend","impressions"]; `start_date`/`end_date` as YYYY-MM-DD in the advertiser's time zone,
at most 30 days with `stat_time_day` and 365 without a time dimension; `page_size` 1-1,000 (default 10); campaign
level leaves deleted campaigns out unless `filtering` asks for `campaign_status` IN ["STATUS_ALL"]; advertiser
level counts everything. Rows carry `dimensions` and `metrics`; numbers as strings, "-" where nothing divides.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from .common import BASE, Refused, authenticate, json_param, ok, required_str, string_list
from .report_data import campaigns, daily, metric
from .state import MarketingState

REPORT = BASE + "/report/integrated/get/"
LEVELS = {"AUCTION_ADVERTISER": "advertiser_id", "AUCTION_CAMPAIGN": "campaign_id"}
NOT_EMULATED_LEVELS = ("AUCTION_ADGROUP", "AUCTION_AD")


def _date(request: Request, name: str) -> date:
    raw = required_str(request.query_params, name)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Refused(40002, f"{name}: must be a date as YYYY-MM-DD.") from None


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query_params.get(name, str(default)))
    except ValueError:
        raise Refused(40002, f"{name}: Not a valid integer.") from None
    if not low <= value <= high:
        raise Refused(40002, f"{name}: must be between {low} and {high}.")
    return value


def _filters(state: MarketingState, request: Request) -> tuple[set[str] | None, bool]:
    """The `campaign_ids` asked for (None: all) and whether deleted campaigns are included."""
    wanted: set[str] | None = None
    include_deleted = False
    filtering = json_param(request, "filtering", [])
    if not isinstance(filtering, list):
        raise Refused(40002, "filtering: must be a list of filters.")
    for item in filtering:
        if not isinstance(item, dict) or not {"field_name", "filter_type", "filter_value"} <= item.keys():
            raise Refused(40002, "filtering: each filter needs field_name, filter_type and filter_value.")
        try:
            values = json.loads(item["filter_value"]) if isinstance(item["filter_value"], str) else None
        except ValueError:
            values = None
        if item["filter_type"] == "IN" and not isinstance(values, list):
            raise Refused(40002, "filtering: filter_value of an IN filter must be a JSON array as a string.")
        if item["field_name"] == "campaign_ids" and isinstance(values, list):
            wanted = {str(v) for v in string_list(values, "campaign_ids", most=100)}
        elif item["field_name"] == "campaign_status" and isinstance(values, list):
            include_deleted = "STATUS_ALL" in values
        else:
            state.warn(REPORT, f"filter {item['field_name']} is not emulated and was ignored")
    return wanted, include_deleted


def _share_of(day: date, now: datetime) -> float:
    if day < now.date():
        return 1.0
    return (now.hour * 3600 + now.minute * 60 + now.second) / 86400 if day == now.date() else 0.0


async def report(state: MarketingState, request: Request) -> Response:
    params = request.query_params
    advertiser_id = required_str(params, "advertiser_id")
    authenticate(state, request, [advertiser_id], "reporting")
    if required_str(params, "report_type") != "BASIC":
        raise Refused(40002, "report_type: the emulator serves BASIC reports only.")
    if params.get("service_type", "AUCTION") != "AUCTION":
        raise Refused(40002, "service_type: must be AUCTION.")
    level = required_str(params, "data_level")
    if level in NOT_EMULATED_LEVELS:
        raise Refused(40002, f"data_level: {level} is not emulated.")
    if level not in LEVELS:
        raise Refused(40002, f"data_level: must be one of {', '.join([*LEVELS, *NOT_EMULATED_LEVELS])}.")
    dimensions = string_list(json_param(request, "dimensions"), "dimensions", most=4)
    id_dimension = LEVELS[level]
    if not set(dimensions) <= {id_dimension, "stat_time_day"}:
        raise Refused(40002, f"dimensions: at {level} the emulator serves {id_dimension} and stat_time_day.")
    metrics = string_list(json_param(request, "metrics", ["spend", "impressions"]), "metrics")
    start, end = _date(request, "start_date"), _date(request, "end_date")
    if end < start:
        raise Refused(40002, "end_date must not be earlier than start_date.")
    limit = 30 if "stat_time_day" in dimensions else 365
    if (end - start).days + 1 > limit:
        raise Refused(40002, f"The time range between start_date and end_date must be at most {limit} days.")
    page = _int(request, "page", 1, 1, 1_000_000)
    page_size = _int(request, "page_size", 10, 1, 1000)
    wanted, include_deleted = _filters(state, request)

    advertiser = state.advertisers[advertiser_id]
    now = datetime.fromtimestamp(state.clock(), ZoneInfo(advertiser.timezone))
    chosen = [
        c
        for c in campaigns(advertiser_id)
        if (wanted is None or c.campaign_id in wanted)
        and (level == "AUCTION_ADVERTISER" or include_deleted or not c.deleted)
    ]
    days = [start + timedelta(days=n) for n in range((end - start).days + 1) if start + timedelta(days=n) <= now.date()]
    groups: dict[tuple[str, str], list[dict[str, Decimal]]] = {}
    for day in days:
        factor = state.restated.get((advertiser_id, day.isoformat()), 1.0)
        for campaign in chosen:
            key = (
                campaign.campaign_id if id_dimension in dimensions and level == "AUCTION_CAMPAIGN" else advertiser_id,
                day.isoformat() if "stat_time_day" in dimensions else "",
            )
            groups.setdefault(key, []).append(daily(advertiser_id, campaign, day, factor, _share_of(day, now)))
    names = {c.campaign_id: c.name for c in chosen}
    rows = [_row(state, key, sums, dimensions, id_dimension, metrics, names) for key, sums in sorted(groups.items())]
    total = len(rows)
    page_info = {"page": page, "page_size": page_size, "total_number": total, "total_page": -(-total // page_size)}
    return ok({"list": rows[(page - 1) * page_size : page * page_size], "page_info": page_info})


def _row(
    state: MarketingState,
    key: tuple[str, str],
    parts: list[dict[str, Decimal]],
    dimensions: list[str],
    id_dimension: str,
    metrics: list[str],
    names: dict[str, str],
) -> dict[str, Any]:
    sums = {name: sum((p[name] for p in parts), Decimal(0)) for name in parts[0]}
    shown: dict[str, Any] = {}
    for name in metrics:
        if name == "campaign_name" and key[0] in names:
            shown[name] = names[key[0]]
        elif name in ("campaign_id", "advertiser_id"):
            shown[name] = key[0]
        elif (value := metric(name, sums)) is not None:
            shown[name] = value
        else:
            state.warn(REPORT, f'metric {name} is not emulated: answered "-"')
            shown[name] = "-"
    found = {id_dimension: key[0], "stat_time_day": f"{key[1]} 00:00:00"}
    return {"dimensions": {d: found[d] for d in dimensions}, "metrics": shown}


async def advertiser_info(state: MarketingState, request: Request) -> Response:
    ids = string_list(json_param(request, "advertiser_ids"), "advertiser_ids", most=100)
    authenticate(state, request, ids, "ad_account")
    listed = []
    for advertiser_id in ids:
        a = state.advertisers[advertiser_id]
        listed.append(
            {
                "advertiser_id": a.advertiser_id,
                "name": a.name,
                "currency": a.currency,
                "timezone": a.timezone,
                "display_timezone": a.timezone,
                "status": "STATUS_ENABLE",
            }
        )
    return ok({"list": listed})


ROUTES = [
    (REPORT, report, "GET"),
    (BASE + "/advertiser/info/", advertiser_info, "GET"),
]

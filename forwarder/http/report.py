"""`GET /v1/report` (admin): TikTok's spend and results beside what we forwarded, as JSON or CSV
(README "Reporting and KPIs"; the document is built by reporting/report.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..reporting.export import to_csv
from ..reporting.report import LEVELS, ReportLevel, advertisers_today, build_report
from ..runtime import Runtime
from .admin import require_admin
from .requests import field_refusal

MAX_DAYS = 366  # one report reads every stored row and forwarded event of its range
DEFAULT_DAYS = 7
FORMATS = ("json", "csv")
# Days a report can be about: TikTok's reports start long after the first, and day arithmetic must not overflow.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


def report_range(params: dict[str, str], today: date) -> tuple[date, date]:
    """`since` and `until` (YYYY-MM-DD, inclusive) from the query; by default the 7 days through `today`."""
    try:
        until = date.fromisoformat(params["until"]) if params.get("until") else today
    except ValueError:
        raise ValueError("until: must be a date as YYYY-MM-DD") from None
    try:
        since = date.fromisoformat(params["since"]) if params.get("since") else until - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise ValueError("since: must be a date as YYYY-MM-DD") from None
    for name, day in (("since", since), ("until", until)):
        if not EARLIEST <= day <= LATEST:
            raise ValueError(f"{name}: must lie between {EARLIEST} and {LATEST}")
    if until < since:
        raise ValueError("until: must not be before since")
    if (until - since).days + 1 > MAX_DAYS:
        raise ValueError(f"since: the range may span at most {MAX_DAYS} days")
    return since, until


def report_level(params: dict[str, str]) -> ReportLevel:
    level = params.get("level") or "campaign"
    for known in LEVELS:
        if level == known:
            return known
    raise ValueError(f"level: must be one of {', '.join(LEVELS)}")


async def report(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    params = dict(request.query_params)
    try:
        since, until = report_range(params, await advertisers_today(runtime.store, runtime.clock()))
        level = report_level(params)
        fmt = params.get("format") or "json"
        if fmt not in FORMATS:
            raise ValueError(f"format: must be one of {', '.join(FORMATS)}")
    except ValueError as error:
        return field_refusal(error, "invalid_parameter")
    document: dict[str, Any] = await build_report(runtime.store, runtime.settings, since, until, level)
    if fmt == "csv":
        filename = f"tiktok-report-{since}-{until}-{level}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(to_csv(document), media_type="text/csv; charset=utf-8", headers=headers)
    document["puller"] = runtime.reports.state() if runtime.reports is not None else None
    return JSONResponse(document)

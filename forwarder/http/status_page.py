"""`GET /`: a small self-contained HTML status page (no CDN: inline CSS and a few lines of inline JS for the charts)."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..audiences.report import audience_documents
from ..events import utc_iso
from ..mapping.tables import Rule
from ..runtime import Runtime
from ..stats import collect_stats
from .admin import require_admin
from .status_audiences import audience_sections
from .status_lift import lift_sections
from .status_performance import performance_section
from .tiktok_connection import tiktok_connection_section

OUTCOMES = ("accepted", "delivered", "failed", "duplicates")
_COLORS = {"accepted": "#1a73e8", "delivered": "#137333", "failed": "#b3261e", "duplicates": "#9aa0a6"}
COUNTS = (
    "received",
    "accepted",
    "duplicates",
    "unmapped",
    "pending",
    "in_flight",
    "delivered",
    "failed",
    "retried",
    "held",
)


def chart_series(rows: list[tuple[float, str, str, int]], now: float) -> dict[str, Any]:
    """Events by outcome, all destinations together: the last hour in 5-minute bars, the last day in hourly bars."""
    hour: dict[str, list[int]] = {outcome: [0] * 12 for outcome in OUTCOMES}
    day: dict[str, list[int]] = {outcome: [0] * 24 for outcome in OUTCOMES}
    for bucket, _destination, metric, value in rows:
        if metric not in OUTCOMES:
            continue
        age = now - bucket
        if 0 <= age < 3600:
            hour[metric][11 - int(age // 300)] += value
        if 0 <= age < 86400:
            day[metric][23 - int(age // 3600)] += value
    return {
        "hour": hour,
        "day": day,
        "hour_starts": [now - (12 - i) * 300 for i in range(12)],  # each bar's start, for the time axis
        "day_starts": [now - (24 - i) * 3600 for i in range(24)],
        "outcomes": list(OUTCOMES),
        "colors": _COLORS,
    }


def _identity(figures: dict[str, Any]) -> str:
    """What a destination is, from its own description: its kind, then what identifies it (e.g. the pixel)."""
    identifiers = " ".join(str(figures[key]) for key in ("event_source", "event_source_id") if figures.get(key))
    return f"{figures.get('kind') or 'not configured'} · {identifiers}" if identifiers else str(figures.get("kind"))


def _destination_rows(stats: dict[str, Any]) -> str:
    rows = []
    for name, figures in stats["destinations"].items():
        paused = figures.get("paused")
        state = (
            f'<span class="paused">paused</span><div class="why">{escape(paused["reason"])} '
            f"(code {escape(str(paused['tiktok_code']))}); next probe {utc_iso(paused['next_probe_at'])}</div>"
            if paused
            else '<span class="active">active</span>'
        )
        oldest = figures.get("oldest_pending_age_s")
        cells = "".join(
            f'<td data-destination="{escape(name)}" data-metric="{metric}">{figures.get(metric, 0)}</td>'
            for metric in COUNTS
        )
        rows.append(
            f'<tr><th>{escape(name)}<div class="why">{escape(_identity(figures))}</div></th>'
            f'<td data-destination="{escape(name)}" '
            f'data-metric="state">{state}</td>{cells}<td data-destination="{escape(name)}" '
            f'data-metric="oldest_pending_age_s">{"-" if oldest is None else f"{oldest:.0f} s"}</td></tr>'
        )
    return "\n".join(rows)


def errors_by_event(errors: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The latest error of each (destination, event_id), newest first, with how many errors it had."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for error in errors:
        key = (error["destination"], error["event_id"])
        grouped.setdefault(key, {**error, "errors": 0})["errors"] += 1
    return list(grouped.values())[:limit]


def _final_state(e: dict[str, Any]) -> str:
    """Where the event stands now; a dead letter gets the button that replays it (status.js posts it)."""
    if e["state"] != "failed":
        return f'<td data-state="{escape(e["state"])}">{escape(e["state"].replace("_", " "))}</td>'
    return (
        '<td data-state="failed">failed (dead letter) '
        f'<button type="button" data-replay="{escape(e["event_id"])}" data-destination="{escape(e["destination"])}">'
        'Replay</button> <span class="replay-result"></span></td>'
    )


def _error_rows(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return '<tr><td colspan="8">No errors.</td></tr>'
    return "\n".join(
        f'<tr data-event-id="{escape(e["event_id"])}"><td>{utc_iso(e["at"])}</td><td>{escape(e["destination"])}</td>'
        f'<td>{escape(e["event"])} <a href="/v1/events/{quote(e["event_id"], safe="")}">'
        f"<code>{escape(e['event_id'])}</code></a></td><td>{e['errors']}</td>"
        f"<td>{escape(str(e['tiktok_code'] if e['tiktok_code'] is not None else e['http_status']))}</td>"
        f"<td>{escape(e['message'] or '')}</td><td><code>{escape(e['request_id'] or '-')}</code></td>"
        f"{_final_state(e)}</tr>"
        for e in errors
    )


def _reload_notice(runtime: Runtime) -> str:
    """Which config serves since when; a refused latest reload in red, with its problems."""
    loaded = f"Config and mapping tables serving since {utc_iso(runtime.loaded_at)}."
    last = runtime.last_reload
    if last is None or last.get("ok"):
        applied = f" Last reload: applied {utc_iso(last['at'])} ({escape(last['trigger'])})." if last else ""
        return f'<p class="why" id="reload">{loaded}{applied}</p>'
    why = (
        "the files are invalid"
        if last.get("refused") == "invalid"
        else escape(last.get("message") or str(last.get("refused")))
    )
    problems = "".join(
        f"<li>{escape(p['level'])}: {escape(p['file'])}: {escape(p['key'])}: {escape(p['reason'])}</li>"
        for p in last.get("problems", [])
    )
    dropped = (
        f"<p>Names it would stop mapping: {escape(json.dumps(last['dropped']))}</p>" if last.get("dropped") else ""
    )
    return (
        f'<div class="alert" id="reload-refused"><strong>Reload refused</strong> at {utc_iso(last["at"])} '
        f"({escape(last['trigger'])}): {why}. The previous config keeps serving. {loaded}"
        f"<ul>{problems}</ul>{dropped}</div>"
    )


def _conflict_rows(conflicts: list[dict[str, Any]]) -> str:
    """Order ids are store transaction ids, not personal data: shown as given (escaped)."""
    if not conflicts:
        return '<tr><td colspan="7">No order conflicts.</td></tr>'
    return "\n".join(
        f'<tr data-conflict="{c["id"]}"><td>{utc_iso(c["at"])}</td><td>{escape(c["destination"])}</td>'
        f"<td><code>{escape(c['order_id'])}</code></td>"
        f"<td>{escape(c['first_source'])} <code>{escape(c['first_event_id'])}</code> then {escape(c['source'])} "
        f"<code>{escape(c['event_id'])}</code></td><td>{escape(c['differs'])}</td>"
        f'<td data-status="{escape(c["status"])}">{escape(c["status"])}</td><td>{c["id"]}</td></tr>'
        for c in conflicts
    )


def _not_forwarded_rows(rows: list[dict[str, Any]]) -> str:
    """Names and sources as sent, escaped; the sample is the last event's id, linked to its ledger (no user data)."""
    if not rows:
        return '<tr><td colspan="6">Every event accepted lately went to a destination.</td></tr>'
    return "\n".join(
        f'<tr data-name="{escape(r["event"])}"><td>{escape(r["event"])}</td><td>{escape(r["source"])}</td>'
        f'<td>{escape(r["reason"])}</td><td data-count="{r["count"]}">{r["count"]}</td><td>{utc_iso(r["last_at"])}</td>'
        f'<td><a href="/v1/events/{escape(quote(r["event_id"], safe=""))}">'
        f"<code>{escape(r['event_id'])}</code></a></td></tr>"
        for r in rows
    )


def _mapping_sections(runtime: Runtime) -> str:
    sections = []
    users: dict[str, list[str]] = defaultdict(list)
    for name, destination in runtime.settings.destinations.items():
        users[destination.mapping].append(name)
    for name, table in sorted(runtime.routing.tables.items()):
        if name not in users:
            continue
        rules = "".join(
            f"<tr><td>{escape(inbound)}</td><td>{escape(', '.join(rule.event for rule in rules))}</td>"
            f"<td>{escape(_conditions(rules))}</td></tr>"
            for inbound, rules in sorted(table.rules.items())
        )
        sections.append(
            f"<details><summary><code>{escape(table.label)}</code> for {escape(', '.join(users[name]))}</summary>"
            f"<table><tr><th>inbound</th><th>TikTok</th><th></th></tr>{rules}</table></details>"
        )
    return "\n".join(sections)


def _conditions(rules: tuple[Rule, ...]) -> str:
    paths = [condition.path for rule in rules for condition in rule.when]
    return "when " + ", ".join(paths) if paths else ""


@cache
def _asset(name: str) -> str:
    return resources.files("forwarder").joinpath("static", name).read_text()


async def status_page(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    now = runtime.clock()
    stats = await collect_stats(runtime.store, runtime.settings, now, runtime.descriptions())
    series = chart_series(await runtime.store.series(now - 86400), now)
    errors = errors_by_event(await runtime.store.recent_errors(100), 10)
    conflicts = await runtime.store.order_conflicts(10)
    audiences = await audience_documents(runtime.store, runtime.settings)
    legend = "".join(f'<span><i style="background:{c}"></i>{o}</span>' for o, c in _COLORS.items())
    series_json = json.dumps(series).replace("</", "<\\/")
    headers = "".join(f"<th>{metric.replace('_', ' ')}</th>" for metric in COUNTS)
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>TikTok events forwarder</title><style>{_asset("status.css")}</style></head>
<body>
<h1>TikTok events forwarder</h1>
<p class="why">As of {utc_iso(now)}; this page refreshes every 30 s. The same figures: <code>GET /v1/stats</code>.</p>
{_reload_notice(runtime)}
<h2>Destinations</h2>
<table id="destinations"><tr><th>destination</th><th>state</th>{headers}<th>oldest pending</th></tr>
{_destination_rows(stats)}
</table>
{await tiktok_connection_section(runtime, dict(request.query_params))}
<h2>Events by outcome</h2>
<div class="legend">{legend}</div>
<p>Last hour (5-minute bars)</p><svg id="chart-hour" width="640" height="170" role="img"></svg>
<p>Last day (hourly bars)</p><svg id="chart-day" width="640" height="170" role="img"></svg>
<h2>Latest TikTok errors, per event</h2>
<p class="why">The event id opens its ledger (every attempt); a dead letter can be replayed (same event_id).</p>
<table id="errors">
<tr><th>last error</th><th>destination</th><th>event</th><th>errors</th><th>code</th><th>message</th>
<th>request_id</th><th>now</th></tr>
{_error_rows(errors)}
</table>
<h2>Order conflicts</h2>
<p class="why">A report of an order (store transaction id) whose TikTok event, value or currency differ from the
first report is held, not sent: <code>forwarder conflicts release ID</code> sends it.</p>
<table id="order-conflicts">
<tr><th>at</th><th>destination</th><th>order id</th><th>sources</th><th>what differs</th><th>status</th><th>id</th></tr>
{_conflict_rows(conflicts)}
</table>
<h2>Events sent nowhere</h2>
<p class="why">Accepted, valid, and sent to no destination: <code>unmapped</code> (no rule for the name: add one to
the destination's mapping table; names match whatever their case or separators), <code>filtered</code> (its rules'
conditions failed), <code>denied</code> (the table's allow/deny list), <code>no_destination</code> (no destination
takes this source or app), <code>mixed</code> (destinations differ). Most frequent first.</p>
<table id="not-forwarded">
<tr><th>event</th><th>source</th><th>reason</th><th>count</th><th>last seen</th><th>last event_id</th></tr>
{_not_forwarded_rows(stats["not_forwarded"])}
</table>
<h2>Audiences</h2>
<p class="why">Kept in sync with TikTok from event rules; the same figures: <code>GET /v1/audiences</code>.</p>
{audience_sections(audiences, await lift_sections(runtime))}
{performance_section()}
<h2>Active mapping tables</h2>
{_mapping_sections(runtime)}
<script type="application/json" id="series">{series_json}</script>
<script>{_asset("status.js")}</script>
</body></html>"""
    return HTMLResponse(html)

"""The status page's "Audiences" section: one block per audience, from the same documents as `/v1/audiences`."""

from __future__ import annotations

from html import escape
from typing import Any

from ..audiences.report import FIGURES
from ..events import utc_iso

_EXPLAINED = {
    "entered": "became members (after any unless window)",
    "synced": "TikTok holds them (acknowledged)",
    "not_synced": "never sent: no usable identifier, or consent",
    "held_out": "the control group: qualify, held back on purpose, never sent, counted for lift",
    "over_cap": "qualify, beyond the target cap (max_members)",
    "pending": "a change not yet acknowledged, being tried",
    "errored": "given up on: see the problem",
    "members": "members now (what TikTok should hold)",
    "waiting": "entered, waiting for the unless window",
    "sent": "users sent in acknowledged requests",
}


def audience_sections(documents: dict[str, dict[str, Any]], lift: dict[str, str] | None = None) -> str:
    """`lift`: each audience's lift block (http/status_lift.py), placed after its figures."""
    if not documents:
        return '<p class="why">No audiences configured: see README "Audiences".</p>'
    return "\n".join(_section(d) + (lift or {}).get(d["name"], "") for d in documents.values())


def _section(document: dict[str, Any]) -> str:
    name = escape(document["name"])
    cells = "".join(
        f'<td data-audience="{name}" data-figure="{figure}" title="{escape(_EXPLAINED[figure])}">'
        f"{document[figure]}</td>"
        for figure in FIGURES
    )
    headers = "".join(f"<th>{figure.replace('_', ' ')}</th>" for figure in FIGURES)
    size = document["size"]
    shown_size = size["note"] or ("not read yet" if size["now"] is None else f"{size['now']:,}")
    first = "-" if size["at_first_sync"] is None else f"{size['at_first_sync']:,}"
    problem = document["problem"]
    problem_html = (
        f'<p class="paused" data-audience-problem="{name}">{escape(problem["problem"].replace("_", " "))}: '
        f"{escape(problem['cause'])}. <b>What to do:</b> {escape(problem['fix'])}"
        f"{' (request_id ' + escape(problem['request_id']) + ')' if problem.get('request_id') else ''}</p>"
        if problem
        else ""
    )
    reasons = ", ".join(f"{escape(k)}: {v}" for k, v in document["not_synced_by_reason"].items()) or "none"
    days = "".join(
        f"<tr><td>{escape(d['day'])}</td><td>{d['adds']}</td><td>{d['deletes']}</td></tr>"
        for d in document["daily"][:14]
    )
    return f"""<h3 id="audience-{name}">{name}</h3>
<p class="why">{escape(document["description"])} · advertiser {escape(document["advertiser_id"])} · TikTok
audience {escape(str(document["tiktok_audience_id"] or "-"))} · <span data-audience-status="{name}">
{escape(str(document["status_text"]))}</span></p>
{problem_html}
<table class="audience" id="audience-figures-{name}"><tr>{headers}</tr><tr>{cells}</tr></table>
<p class="why">Size in TikTok now: <span data-audience-size="{name}">{escape(shown_size)}</span>; at first sync:
{first}; read {utc_iso(size["checked_at"]) if size["checked_at"] else "never"}. Not synced by reason: {reasons}.</p>
<table class="audience-days"><tr><th>day (UTC)</th><th>adds</th><th>deletes</th></tr>{days}</table>"""

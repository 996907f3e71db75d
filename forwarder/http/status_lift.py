"""The status page's lift block in each audience's section: the Sent > Converted funnel, lift against the control
group with its 95% interval (or why not yet), and trend charts by day, week and month (inline SVG, no script).
The same document as `GET /v1/audiences/{name}/performance`."""

from __future__ import annotations

from html import escape
from typing import Any

from ..audiences.performance import performances
from ..runtime import Runtime

_COLORS = {"members": "#2563eb", "control": "#9ca3af"}
_W, _H = 320, 90


async def lift_sections(runtime: Runtime) -> dict[str, str]:
    """Each audience with a goal: its lift block's HTML."""
    documents = await performances(runtime.store, runtime.settings, runtime.clock())
    return {name: lift_block(document) for name, document in documents.items()}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def lift_block(doc: dict[str, Any]) -> str:
    name = escape(doc["audience"])
    flow = doc["funnel"]
    funnel = (
        f'<p class="why" data-funnel="{name}">Funnel: sent <b data-funnel-sent>{flow["sent"]}</b> &gt; converted '
        f"<b data-funnel-converted>{flow['converted']}</b> ({_percent(flow['conversion_rate'])}); held out "
        f"<b data-funnel-held-out>{flow['held_out']}</b> &gt; converted "
        f"<b data-funnel-held-out-converted>{flow['held_out_converted']}</b>.</p>"
    )
    goal = doc["goal"]
    if doc["status"] == "ready":
        diff = doc["rate_difference"]
        verdict = (
            "the interval excludes 0: a difference, at 95%"
            if diff["low"] is not None and (diff["low"] > 0 or diff["high"] < 0)
            else "the interval includes 0: no difference shown yet"
        )
        lift = (
            f'<p class="why" data-lift="{name}" data-lift-status="ready">Lift ({escape(goal["event"])} within '
            f"{goal['within_days']:g} days): conversion rate members {_percent(doc['members']['conversion_rate'])}"
            f" vs control {_percent(doc['control']['conversion_rate'])}; difference "
            f"<b data-lift-difference>{_percent(diff['value'])}</b>, 95% CI "
            f"<span data-lift-low>{_percent(diff['low'])}</span> to <span data-lift-high>{_percent(diff['high'])}"
            f"</span> ({escape(doc['tests']['rate_difference'])}): {verdict}.</p>"
        )
    else:
        lift = (
            f'<p class="why" data-lift="{name}" data-lift-status="{escape(doc["status"])}">Lift: '
            f"{escape(doc['reason'] or '')}</p>"
        )
    charts = "".join(_chart(name, period, points) for period, points in doc["trends"].items())
    legend = " ".join(f'<span style="color:{c}">&#9632; {g}</span>' for g, c in _COLORS.items())
    return f'{funnel}\n{lift}\n<div class="trends">{charts}<p class="why">Converted per period: {legend}</p></div>'


def _chart(name: str, period: str, points: list[dict[str, Any]]) -> str:
    """Users converted per period, one line per group."""
    labels = sorted({p["period"] for p in points})[-30:]
    top = max((p["converted"] for p in points if p["period"] in labels), default=0) or 1
    lines = []
    for group, color in _COLORS.items():
        values = {p["period"]: p["converted"] for p in points if p["group"] == group}
        step = _W / max(len(labels) - 1, 1)
        xy = " ".join(f"{i * step:.1f},{_H - values.get(label, 0) / top * (_H - 4):.1f}" for i, label in
                      enumerate(labels))  # fmt: skip
        lines.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{xy}"/>')
    span = f"{escape(labels[0])} to {escape(labels[-1])}" if labels else "no data yet"
    return (
        f'<figure data-trend="{name}" data-period="{period}" data-points="{len(points)}">'
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="converted by {period}">{"".join(lines)}</svg>'
        f"<figcaption>by {period}: {span}</figcaption></figure>"
    )

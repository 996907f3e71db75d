"""`forwarder audiences performance NAME`: the audience's goal conversions and lift, as the API's document."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..audiences.performance import performance
from ..cli_output import chosen_format, emit
from ..settings import Settings
from .records import with_store


def show_performance(args: argparse.Namespace, settings: Settings) -> int:
    if args.name not in settings.audiences:
        print(f"no audience {args.name!r}; configured: {', '.join(settings.audiences) or 'none'}", file=sys.stderr)
        return 1
    document = with_store(settings, lambda store: performance(store, settings, args.name, time.time()))
    if document is None:
        return 1
    emit(document, chosen_format(args.format), _table)
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _table(doc: dict[str, Any]) -> str:
    if doc["status"] == "no_goal":
        return f"{doc['audience']}: {doc['reason']}"
    lines = [f"{doc['audience']}: goal {doc['goal']['event']} within {doc['goal']['within_days']:g} days"]
    for group in ("members", "control"):
        g = doc[group]
        lines.append(
            f"  {group:<8} users {g['users']:>7} (in window {g['in_window']})  converted {g['converted']:>6}  "
            f"rate {_percent(g['conversion_rate']):>8}  revenue {g['revenue']:.2f}  "
            f"per user {'-' if g['revenue_per_user'] is None else format(g['revenue_per_user'], '.2f')}"
        )
    flow = doc["funnel"]
    lines.append(f"  funnel: sent {flow['sent']} > converted {flow['converted']}; "
                 f"held out {flow['held_out']} > converted {flow['held_out_converted']}")  # fmt: skip
    if doc["status"] != "ready":
        lines.append(f"  lift: {doc['reason']}")
        return "\n".join(lines)
    diff, ratio = doc["rate_difference"], doc["rate_ratio"]
    lines.append(
        f"  lift: conversion rate difference {_percent(diff['value'])} "
        f"(95% CI {_percent(diff['low'])} to {_percent(diff['high'])}, {doc['tests']['rate_difference']})"
    )
    if ratio["value"] is not None:
        interval = "" if ratio["low"] is None else f" (95% CI {ratio['low']:.3f} to {ratio['high']:.3f})"
        lines.append(f"        ratio {ratio['value']:.3f}{interval}")
    if doc["ratio_note"]:
        lines.append(f"        {doc['ratio_note']}")
    rpu = doc["revenue_per_user_difference"]
    if rpu["value"] is not None:
        interval = "" if rpu["low"] is None else f" (95% CI {rpu['low']:.2f} to {rpu['high']:.2f}, Welch)"
        lines.append(f"        revenue per user difference {rpu['value']:.2f}{interval}")
    return "\n".join(lines)

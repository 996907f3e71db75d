"""The report document as CSV (one line per advertiser and campaign, day or total) and as a terminal table."""

from __future__ import annotations

import csv
import io
from typing import Any

from .rows import METRICS

KPIS = ("cpi", "ipm", "cpm", "cpc", "ctr_pct", "click_to_install_pct", "conversion_rate_pct", "cpa", "attributed_roas")
BLENDED = ("forwarded_revenue", "blended_roas")
KEYS = {"campaign": ("campaign_id", "campaign_name"), "day": ("day",), "advertiser": ()}
TABLE = ("spend", "impressions", "clicks", "app_install", "cpi", "ipm", "cpm", "ctr_pct", "attributed_roas")


def lines(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat lines: advertiser and currency, the level's keys, every figure, every KPI, blended where it applies."""
    level = document["level"]
    result = []
    for advertiser in document["advertisers"]:
        entries = advertiser["rows"] if level != "advertiser" else [advertiser["totals"]]
        for entry in entries:
            line = {"advertiser_id": advertiser["advertiser_id"], "currency": advertiser["currency"]}
            line |= {key: entry.get(key) for key in KEYS[level]}
            line |= entry["figures"] | entry["kpis"]
            if level != "campaign":
                line |= {key: entry.get(key) for key in BLENDED}
            result.append(line)
    return result


def columns(level: str) -> list[str]:
    return ["advertiser_id", "currency", *KEYS[level], *METRICS, *KPIS, *(BLENDED if level != "campaign" else ())]


def to_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(document["level"]), lineterminator="\n")
    writer.writeheader()
    for line in lines(document):
        writer.writerow({key: "" if value is None else value for key, value in line.items()})
    return out.getvalue()


def to_table(document: dict[str, Any]) -> str:
    """Aligned columns for a terminal; "-" is no value."""
    level = document["level"]
    wanted = ["advertiser_id", *KEYS[level], *TABLE, *(BLENDED if level != "campaign" else ())]
    wanted = [c for c in wanted if c != "campaign_name"]
    body = [["-" if line.get(c) is None else str(line[c]) for c in wanted] for line in lines(document)]
    widths = [max(len(c), *(len(row[i]) for row in body)) if body else len(c) for i, c in enumerate(wanted)]
    rendered = ["  ".join(c.ljust(w) for c, w in zip(wanted, widths, strict=True))]
    rendered += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in body]
    for advertiser in document["advertisers"]:
        rendered += [f"warning: {text}" for text in advertiser["warnings"]]
    rendered += [f"warning: {text}" for text in document["warnings"]]
    return "\n".join(rendered) + "\n"

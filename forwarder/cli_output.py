"""How the CLI's read commands print: JSON or an aligned table, times as ISO 8601 (UTC) either way."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from .events import utc_iso

Format = Literal["table", "json"]
# Keys whose numeric values are Unix times in what the store and /v1/stats return.
TIME_KEYS = frozenset({"at", "stored_at", "failed_at", "next_attempt_at", "next_probe_at", "since", "loaded_at"})


def chosen_format(requested: str | None) -> Format:
    """The --format given, else a table for a person at a terminal and JSON for a pipe or a script."""
    if requested in ("table", "json"):
        return "table" if requested == "table" else "json"
    return "table" if sys.stdout.isatty() else "json"


def with_iso_times(value: Any) -> Any:
    """A copy of `value` with every Unix time under a time key replaced by its ISO 8601 form."""
    if isinstance(value, dict):
        return {
            key: utc_iso(item)
            if key in TIME_KEYS and isinstance(item, int | float) and not isinstance(item, bool)
            else with_iso_times(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [with_iso_times(item) for item in value]
    return value


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """Columns padded to their widest cell; None shows as '-'."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _code(item: dict[str, Any]) -> Any:
    code = item.get("tiktok_code")
    return code if code is not None else (f"http {item['http_status']}" if item.get("http_status") else None)


def stats_table(stats: dict[str, Any]) -> str:
    columns = [
        "state",
        "received",
        "accepted",
        "duplicates",
        "unmapped",
        "pending",
        "in_flight",
        "delivered",
        "failed",
        "dead",
        "held",
    ]
    rows = [
        [name, *(figures.get(c, 0) for c in columns), _age(figures.get("oldest_pending_age_s"))]
        for name, figures in stats["destinations"].items()
    ]
    parts = [table(rows, ("destination", *columns, "oldest pending"))]
    for name, figures in stats["destinations"].items():
        if paused := figures.get("paused"):
            parts.append(
                f"{name}: paused since {paused['since']} ({paused['reason']}, code {paused['tiktok_code']}); "
                f"next probe {paused['next_probe_at']}"
            )
        if error := figures.get("last_error"):
            parts.append(f"{name}: last error {error['at']} code {_code(error)}: {error['message']}")
    sources = [[name, f["received"], f["rejected"]] for name, f in stats["sources"].items()]
    parts.append("\n" + table(sources, ("source", "received", "rejected")))
    return "\n".join(parts)


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f} s"


def dead_table(letters: list[dict[str, Any]]) -> str:
    columns = ("failed_at", "destination", "event", "event_id", "attempts")
    rows = [[*(d[c] for c in columns), _code(d), d["message"], d["request_id"]] for d in letters]
    return table(rows, (*columns, "code", "message", "request_id")) + f"\n{len(letters)} dead letter(s)"


def ledger_table(ledger: dict[str, Any]) -> str:
    parts = [f"event {ledger['event_id']}"]
    received = [[r["at"], r["source"], r["event"]] for r in ledger["received"]]
    parts.append(table(received, ("received_at", "source", "event")) if received else "never received (or expired)")
    for d in ledger["deliveries"]:
        parts.append(
            f"\n{d['destination']}: {d['event']} {d['state']} (stored {d['stored_at']}, mapping {d['mapping_version']}"
            + (f", next attempt {d['next_attempt_at']})" if d.get("next_attempt_at") else ")")
        )
        attempts = [[a["attempt"], a["at"], _code(a), a["message"], a["request_id"]] for a in d["attempts"]]
        if attempts:
            parts.append(table(attempts, ("attempt", "at", "code", "message", "request_id")))
    if ledger["orders"]:
        parts.append("\n" + conflicts_table(ledger["orders"]))
    return "\n".join(parts)


def conflicts_table(conflicts: list[dict[str, Any]]) -> str:
    columns = ("id", "at", "destination", "order_id", "kind", "status", "differs", "event_id", "source")
    rows = [[*(c[k] for k in columns), c["first_event_id"], c["first_source"]] for c in conflicts]
    return table(rows, (*columns, "first_event_id", "first_source"))


def emit(document: Any, output: Format, render: Callable[[Any], str]) -> None:
    """Print `document` (times made ISO 8601) as JSON or through `render` as a table."""
    readable = with_iso_times(document)
    print(json.dumps(readable, indent=2, ensure_ascii=False) if output == "json" else render(readable))

"""Rows -> the documents both stores answer with, so SQLite and PostgreSQL cannot drift apart.

Each backend runs `STATS_QUERIES` (plain SQL both understand) and hands the rows to `stats_document`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .base import State

QUEUE_FIGURE = {State.PENDING: "pending", State.IN_FLIGHT: "in_flight", State.FAILED: "dead", State.HELD: "held"}

STATS_QUERIES = (
    "SELECT scope, name, metric, value FROM counters",
    """SELECT destination, state, count(*), min(created_at) FROM outbox
       WHERE state IN (0, 1, 3, 4) GROUP BY destination, state""",
    "SELECT destination, reason, tiktok_code, paused_at, probe_at, probes, kind FROM destination_pauses",
    "SELECT destination, at, http_status, tiktok_code, message, request_id FROM last_errors",
)


def stats_document(rows: Sequence[Iterable[Sequence[Any]]], now: float) -> dict[str, Any]:
    """Per-destination and per-source figures from the rows of each of `STATS_QUERIES`, in that order.

    The code of a pause or an error is shown as `tiktok_code`, the name /v1/stats has always used for it.
    """
    counters, queue, pauses, last_errors = rows
    scopes: dict[str, dict[str, dict[str, Any]]] = {"destinations": {}, "sources": {}}
    for scope, name, metric, value in counters:
        scopes.setdefault(f"{scope}s", {}).setdefault(name, {})[metric] = value  # audiences' too
    destinations = scopes["destinations"]
    for name, state, count, oldest in queue:
        entry = destinations.setdefault(name, {})
        entry[QUEUE_FIGURE[State(state)]] = count
        if state in (State.PENDING, State.IN_FLIGHT):
            age = round(now - oldest, 3)
            entry["oldest_pending_age_s"] = max(entry.get("oldest_pending_age_s", 0.0), age)
    for name, reason, code, paused_at, probe_at, probes, kind in pauses:
        destinations.setdefault(name, {})["paused"] = {
            "kind": kind,
            "reason": reason,
            "tiktok_code": code,
            "since": paused_at,
            "next_probe_at": probe_at,
            "failed_probes": probes,
        }
    for name, at, http_status, code, message, request_id in last_errors:
        destinations.setdefault(name, {})["last_error"] = {
            "at": at,
            "http_status": http_status,
            "tiktok_code": code,
            "message": message,
            "request_id": request_id,
        }
    return scopes


# The event ledger (`GET /v1/events/{event_id}`): each backend selects these columns, in this order.
DELIVERY_COLUMNS = "id, destination, event, mapping_version, state, created_at, next_attempt_at, test_event_code"
ATTEMPT_COLUMNS = ("attempt", "at", "http_status", "tiktok_code", "message", "request_id")


def received_entry(row: Sequence[Any]) -> dict[str, Any]:
    """A row of `SELECT received_at, source, event FROM inbound`."""
    at, source, event = row
    return {"at": at, "source": source, "event": event}


def delivery_entry(row: Sequence[Any], attempts: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """A row of `DELIVERY_COLUMNS` from the outbox and its rows of `ATTEMPT_COLUMNS`, oldest first."""
    _, destination, event, mapping_version, state, created_at, next_attempt_at, test_event_code = row
    return {
        "destination": destination,
        "event": event,
        "mapping_version": mapping_version,
        "state": State(state).name.lower(),
        "stored_at": created_at,
        "attempts": [dict(zip(ATTEMPT_COLUMNS, attempt, strict=True)) for attempt in attempts],
        "next_attempt_at": next_attempt_at if state == State.PENDING else None,
        "test_event_code": test_event_code,
    }


# Recent failed attempts: no code (HTTP or transport trouble) or one that is not a success. 0 and 20001 are the
# Events API's success codes (a 20001's refused events fail on their own rows); `limit` is the backend's placeholder.
RECENT_ERRORS = """SELECT a.at, o.destination, o.event, o.event_id, a.http_status, a.tiktok_code, a.message,
                          a.request_id, o.state
                   FROM attempts a JOIN outbox o ON o.id = a.outbox_id
                   WHERE a.tiktok_code IS NULL OR a.tiktok_code NOT IN (0, 20001)
                   ORDER BY a.id DESC LIMIT {limit}"""
_ERROR_KEYS = ("at", "destination", "event", "event_id", "http_status", "tiktok_code", "message", "request_id")


def error_entry(row: Sequence[Any]) -> dict[str, Any]:
    """A row of `RECENT_ERRORS`."""
    *values, state = row
    return {**dict(zip(_ERROR_KEYS, values, strict=True)), "state": State(state).name.lower()}

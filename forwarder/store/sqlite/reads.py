"""The SQLite store's longer reads: an event's ledger, the dead letters, the Marketing API credential; plain functions
on a read connection."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..base import ORDER_MATCH_COLUMNS, DeadFilter
from ..marketing import MarketingCredential
from ..views import ATTEMPT_COLUMNS, DELIVERY_COLUMNS, delivery_entry, received_entry


def ledger(connection: sqlite3.Connection, event_id: str) -> dict[str, Any]:
    """What happened to one event: when it was received, its deliveries and their attempts, its order matches."""
    received = [
        received_entry(row)
        for row in connection.execute(
            "SELECT received_at, source, event FROM inbound WHERE event_id = ? ORDER BY id", (event_id,)
        )
    ]
    outbox = [
        delivery_entry(
            row,
            connection.execute(
                f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts WHERE outbox_id = ? ORDER BY id", (row[0],)
            ),
        )
        for row in connection.execute(
            f"""SELECT {DELIVERY_COLUMNS} FROM outbox
                WHERE id IN (SELECT outbox_id FROM dedup_keys WHERE event_id = ?) AND event_id = ?
                ORDER BY id""",
            (event_id, event_id),
        ).fetchall()
    ]
    orders = [
        dict(zip(ORDER_MATCH_COLUMNS, row, strict=True))
        for row in connection.execute(
            f"""SELECT {", ".join(ORDER_MATCH_COLUMNS)} FROM order_matches
                WHERE event_id = ? OR first_event_id = ? ORDER BY id""",
            (event_id, event_id),
        )
    ]
    return {"event_id": event_id, "received": received, "deliveries": outbox, "orders": orders}


def dead_letters(connection: sqlite3.Connection, where: DeadFilter) -> list[dict[str, Any]]:
    clause, params = dead_where(where)
    rows = connection.execute(
        f"""SELECT id, destination, event, event_id, created_at, next_attempt_at, attempts, last_http_status,
                   last_code, last_message, last_request_id
            FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC LIMIT ?""",
        (*params, where.limit),
    ).fetchall()
    keys = (
        "id",
        "destination",
        "event",
        "event_id",
        "stored_at",
        "failed_at",
        "attempts",
        "http_status",
        "tiktok_code",
        "message",
        "request_id",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def dead_where(where: DeadFilter) -> tuple[str, list[Any]]:
    """SQL conditions for dead letters (state 3; next_attempt_at holds when they failed)."""
    conditions = where.conditions()
    clause = " AND ".join(["state = 3", *(f"{condition} ?" for condition, _ in conditions)])
    return clause, [value for _, value in conditions]


def credential_row(c: MarketingCredential) -> tuple[Any, ...]:
    """The columns of marketing_credential after its id, as the writer stores them (lists as JSON text)."""
    ids, scopes = json.dumps(list(c.advertiser_ids)), json.dumps(list(c.scopes))
    return (c.access_token, c.refresh_token, c.access_expires_at, c.refresh_expires_at, ids, scopes, c.connected_at)


def marketing_credential(connection: sqlite3.Connection) -> MarketingCredential | None:
    row = connection.execute(
        """SELECT access_token, refresh_token, access_expires_at, refresh_expires_at, advertiser_ids, scopes,
                  connected_at FROM marketing_credential"""
    ).fetchone()
    if row is None:
        return None
    token, refresh, expires_at, refresh_expires_at, ids, scopes, connected_at = row
    return MarketingCredential(
        token, tuple(json.loads(ids)), tuple(json.loads(scopes)), connected_at, expires_at, refresh, refresh_expires_at
    )

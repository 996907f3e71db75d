"""The PostgreSQL store's longer reads: an event's ledger and the dead letters."""

from __future__ import annotations

from typing import Any

import asyncpg

from ..base import ORDER_MATCH_COLUMNS, DeadFilter
from ..views import ATTEMPT_COLUMNS, DELIVERY_COLUMNS, delivery_entry, received_entry


async def ledger(connection: asyncpg.Connection, event_id: str) -> dict[str, Any]:
    received = [
        received_entry(row)
        for row in await connection.fetch(
            "SELECT received_at, source, event FROM inbound WHERE event_id = $1 ORDER BY id", event_id
        )
    ]
    deliveries = []
    for row in await connection.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM outbox WHERE event_id = $1 ORDER BY id", event_id
    ):
        attempts = await connection.fetch(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts WHERE outbox_id = $1 ORDER BY id", row["id"]
        )
        deliveries.append(delivery_entry(row, attempts))
    orders = [
        dict(row)
        for row in await connection.fetch(
            f"""SELECT {", ".join(ORDER_MATCH_COLUMNS)} FROM order_matches
                WHERE event_id = $1 OR first_event_id = $1 ORDER BY id""",
            event_id,
        )
    ]
    return {"event_id": event_id, "received": received, "deliveries": deliveries, "orders": orders}


async def dead_letters(connection: asyncpg.Connection, where: DeadFilter) -> list[dict[str, Any]]:
    clause, params = dead_where(where, 1)
    rows = await connection.fetch(
        f"""SELECT id, destination, event, event_id, created_at AS stored_at, next_attempt_at AS failed_at,
                   attempts, last_http_status AS http_status, last_code AS tiktok_code,
                   last_message AS message, last_request_id AS request_id
            FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC LIMIT ${len(params) + 1}""",
        *params,
        where.limit,
    )
    return [dict(r) for r in rows]


def dead_where(where: DeadFilter, first: int) -> tuple[str, list[Any]]:
    """Conditions for dead letters, with placeholders numbered from `$first`."""
    conditions = where.conditions()
    numbered = (f"{condition} ${first + index}" for index, (condition, _) in enumerate(conditions))
    return " AND ".join(["state = 3", *numbered]), [value for _, value in conditions]

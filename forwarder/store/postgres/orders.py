"""Order dedup on PostgreSQL: the rules of sqlite.writer.orders.settle_orders and purge_orders, made safe for several
replicas storing reports of one order at once."""

from __future__ import annotations

import hashlib
from collections import Counter

import asyncpg

from ..base import OrderClaim, OutboxItem, Stored
from ..sqlite.writer.orders import LEGACY_ORDER_SOURCE, order_differences
from .counters import bump, notify

_ORDER_LOCKS = 7_301  # advisory locks (this, hash) serialise the reports of one order across replicas


def order_lock(destination: str, order_id: str) -> int:
    """A 32-bit advisory lock key for one order of one destination."""
    digest = hashlib.sha256(f"{destination}\0{order_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


async def settle_orders(
    connection: asyncpg.Connection, now: float, items: list[OutboxItem], stored: list[Stored], orders: list[OrderClaim]
) -> None:
    """As sqlite.writer.orders.settle_orders. Replicas storing reports of one order at once take turns: each takes the
    order's advisory lock (in key order, so two requests never wait on each other) before reading its reports."""
    claims = [order for order in orders if stored[order.item] is Stored.NEW]
    for lock in sorted({order_lock(items[c.item].destination, c.order_id) for c in claims}):
        await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", _ORDER_LOCKS, lock)
    for claim in claims:
        item = items[claim.item]
        earlier = [
            row
            for row in await connection.fetch(
                """SELECT source, event_id, event, value, currency FROM order_keys
                   WHERE destination = $1 AND order_id = $2 ORDER BY first_seen, source""",
                item.destination,
                claim.order_id,
            )
            if row["source"] in claim.sources or row["source"] == LEGACY_ORDER_SOURCE
        ]
        if not earlier or any(row["event_id"] == item.event_id for row in earlier):
            await connection.execute(
                "INSERT INTO order_keys VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                item.destination,
                claim.order_id,
                claim.source,
                item.event_id,
                item.event,
                claim.value,
                claim.currency,
                now,
            )
            continue
        first = earlier[0]
        differs = order_differences(
            (first["event"], first["value"], first["currency"]),
            (item.event, claim.value, claim.currency),
            legacy=first["source"] == LEGACY_ORDER_SOURCE,
        )
        stored[claim.item] = Stored.HELD if differs else Stored.ORDER_DUPLICATE
        outbox_id = None
        if differs:
            outbox_id = await connection.fetchval(
                """INSERT INTO outbox (destination, event, event_id, test_event_code, payload, next_attempt_at,
                   created_at, mapping_version, state) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, 4) RETURNING id""",
                item.destination,
                item.event,
                item.event_id,
                item.test_event_code,
                item.payload,
                now,
                item.mapping_version,
            )
        await connection.execute(
            """INSERT INTO order_matches (at, destination, order_id, kind, status, differs, outbox_id, event_id,
                 source, event, value, currency, first_event_id, first_source, first_event, first_value,
                 first_currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)""",
            now,
            item.destination,
            claim.order_id,
            "conflict" if differs else "duplicate",
            "held" if differs else "dropped",
            differs,
            outbox_id,
            item.event_id,
            claim.source,
            item.event,
            claim.value,
            claim.currency,
            first["event_id"],
            first["source"],
            first["event"],
            first["value"],
            first["currency"],
        )


async def purge_orders(connection: asyncpg.Connection, now: float, dedup_window_s: float, limit: int) -> int:
    """As sqlite.writer.orders.purge_orders."""
    keys = await connection.fetchval(
        """WITH gone AS (DELETE FROM order_keys WHERE ctid IN (
             SELECT ctid FROM order_keys WHERE first_seen < $1 LIMIT $2) RETURNING 1) SELECT count(*) FROM gone""",
        now - dedup_window_s,
        limit,
    )
    expired = await connection.fetch(
        """UPDATE order_matches SET status = 'expired' WHERE id IN (
             SELECT id FROM order_matches WHERE status = 'held' AND at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING outbox_id""",
        now - dedup_window_s,
        limit,
    )
    if expired:
        await connection.execute(
            "DELETE FROM outbox WHERE id = ANY($1::bigint[]) AND state = 4", [row["outbox_id"] for row in expired]
        )
    matches = await connection.fetchval(
        """WITH gone AS (DELETE FROM order_matches WHERE id IN (
             SELECT id FROM order_matches WHERE status != 'held' AND at < $1 LIMIT $2) RETURNING 1)
           SELECT count(*) FROM gone""",
        now - 2 * dedup_window_s,
        limit,
    )
    return int(keys) + len(expired) + int(matches)


async def release_held(connection: asyncpg.Connection, conflict_id: int, now: float) -> bool:
    match = await connection.fetchrow(
        "SELECT outbox_id, destination FROM order_matches WHERE id = $1 AND status = 'held' FOR UPDATE",
        conflict_id,
    )
    if match is None:
        return False
    released = await connection.fetch(
        """UPDATE outbox SET state = 0, next_attempt_at = $1, created_at = $1 WHERE id = $2 AND state = 4
           RETURNING id""",
        now,
        match["outbox_id"],
    )
    await connection.execute("UPDATE order_matches SET status = 'released' WHERE id = $1", conflict_id)
    await bump(connection, Counter({("destination", match["destination"], "released"): len(released)}), now)
    if released:
        await notify(connection, {match["destination"]})
    return bool(released)

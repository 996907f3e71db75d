"""Housekeeping on PostgreSQL: purge what outlived its retention, in small batches."""

from __future__ import annotations

import asyncpg

from .counters import SERIES_RETENTION_S
from .orders import purge_orders


async def purge(
    connection: asyncpg.Connection,
    now: float,
    *,
    dedup_window_s: float,
    delivered_retention_s: float,
    inbound_retention_s: float,
    limit: int,
) -> int:
    # Small batches in their own short transactions keep locks brief and let autovacuum keep up.
    keys = await connection.fetchval(
        # A key whose event is still undelivered (pending, in flight or dead) stays, as on SQLite.
        """WITH gone AS (DELETE FROM dedup_keys WHERE ctid IN (
             SELECT ctid FROM dedup_keys AS d WHERE first_seen < $1
               AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.event_id = d.event_id
                                 AND o.destination = d.destination AND o.event = d.event AND o.state != 2)
             LIMIT $2) RETURNING 1)
           SELECT count(*) FROM gone""",
        now - dedup_window_s,
        limit,
    )
    destinations = [
        r["name"]
        for r in await connection.fetch("SELECT name FROM counters WHERE scope = 'destination' AND metric = 'accepted'")
    ]
    ids: list[int] = []
    for destination in destinations:
        ids += [
            r["id"]
            for r in await connection.fetch(
                """SELECT id FROM outbox WHERE destination = $1 AND state = 2 AND next_attempt_at < $2
               ORDER BY next_attempt_at LIMIT $3""",
                destination,
                now - delivered_retention_s,
                limit,
            )
        ]
    if ids:
        await connection.execute("DELETE FROM attempts WHERE outbox_id = ANY($1::bigint[])", ids)
        await connection.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
    inbound = await connection.fetchval(
        """WITH gone AS (DELETE FROM inbound WHERE id IN (
             SELECT id FROM (SELECT id, received_at FROM inbound ORDER BY id LIMIT $1) oldest
             WHERE received_at < $2) RETURNING 1) SELECT count(*) FROM gone""",
        limit,
        now - inbound_retention_s,
    )
    orders = await purge_orders(connection, now, dedup_window_s, limit)
    buckets = await connection.fetchval(
        """WITH gone AS (DELETE FROM series WHERE ctid IN (
             SELECT ctid FROM series WHERE bucket < $1 LIMIT $2) RETURNING 1) SELECT count(*) FROM gone""",
        now - SERIES_RETENTION_S,
        limit,
    )
    names = await connection.fetchval(
        # A name not seen for as long as the charts reach leaves the list (names come from clients).
        """WITH gone AS (DELETE FROM not_forwarded WHERE ctid IN (
             SELECT ctid FROM not_forwarded WHERE last_at < $1 LIMIT $2) RETURNING 1)
           SELECT count(*) FROM gone""",
        now - SERIES_RETENTION_S,
        limit,
    )
    seen = await connection.fetchval(
        # An event's audience signals are applied once within the dedup window, as on SQLite.
        """WITH gone AS (DELETE FROM audience_seen WHERE ctid IN (
             SELECT ctid FROM audience_seen WHERE at < $1 ORDER BY at LIMIT $2) RETURNING 1)
           SELECT count(*) FROM gone""",
        now - dedup_window_s,
        limit,
    )
    return int(keys) + len(ids) + int(inbound) + orders + int(buckets) + int(names) + int(seen)

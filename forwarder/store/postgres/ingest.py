"""Ingest on PostgreSQL: dedup with `INSERT ... ON CONFLICT DO NOTHING`, order dedup, outbox rows, counters."""

from __future__ import annotations

import asyncpg

from ..base import IngestWrite, Stored
from .activity import record_activity
from .audience_signals import apply_signals
from .counters import bump, notify
from .orders import settle_orders

_OUTCOME_METRIC = {
    Stored.NEW: "accepted",
    Stored.DUPLICATE: "duplicates",
    Stored.ORDER_DUPLICATE: "order_duplicates",
    Stored.HELD: "order_conflicts",
}


async def enqueue(connection: asyncpg.Connection, write: IngestWrite, now: float) -> list[Stored]:
    items = write.items
    new = set()
    if items:
        rows = await connection.fetch(
            """INSERT INTO dedup_keys SELECT d, e, i, $4 FROM unnest($1::text[], $2::text[], $3::text[])
                 AS k(d, e, i) ON CONFLICT DO NOTHING RETURNING destination, event, event_id""",
            [i.destination for i in items],
            [i.event for i in items],
            [i.event_id for i in items],
            now,
        )
        new = {(r["destination"], r["event"], r["event_id"]) for r in rows}
    stored = []
    for item in items:
        key = (item.destination, item.event, item.event_id)
        stored.append(Stored.NEW if key in new else Stored.DUPLICATE)
        new.discard(key)
    if write.orders:  # an event without an order id costs this test only
        await settle_orders(connection, now, items, stored, write.orders)
    fresh = [item for item, what in zip(items, stored, strict=True) if what is Stored.NEW]
    if fresh:
        await connection.executemany(
            """INSERT INTO outbox (destination, event, event_id, test_event_code, payload, next_attempt_at,
               created_at, mapping_version) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)""",
            [(i.destination, i.event, i.event_id, i.test_event_code, i.payload, now, i.mapping_version) for i in fresh],
        )
    counters = write.counters.copy()
    for item, what in zip(items, stored, strict=True):
        counters["destination", item.destination, _OUTCOME_METRIC[what]] += 1
    if write.audience_signals:  # only events an audience rule names
        counters.update(await apply_signals(connection, write.audience_signals, now))
    if write.activity:  # only events a past-behaviour rule or a goal names
        await record_activity(connection, write.activity, now)
    await bump(connection, counters, now)
    if write.not_forwarded:
        await connection.executemany(
            """INSERT INTO not_forwarded VALUES ($1, $2, $3, $4, $5, $5, $6)
               ON CONFLICT (event, source, reason) DO UPDATE SET count = not_forwarded.count + excluded.count,
                 last_at = excluded.last_at, event_id = excluded.event_id""",
            [(*row[:4], now, row[4]) for row in sorted(write.not_forwarded)],  # sorted: a stable lock order
        )
    if write.inbound:
        await connection.executemany(
            "INSERT INTO inbound (received_at, source, event_id, event, document) VALUES ($1, $2, $3, $4, $5)",
            [(now, r.source, r.event_id, r.event, r.document) for r in write.inbound],
        )
    await notify(connection, {item.destination for item in fresh})
    return stored

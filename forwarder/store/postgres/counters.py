"""Counters, per name for ever and per 5-minute bucket for the charts, and NOTIFY of new events to every replica."""

from __future__ import annotations

from collections import Counter

import asyncpg

from ..base import CounterKey

CHANNEL = "forwarder_outbox"
SERIES_BUCKET_S = 300
SERIES_RETENTION_S = 2 * 86400

_BUMP = """INSERT INTO counters SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
           ON CONFLICT (scope, name, metric) DO UPDATE SET value = counters.value + excluded.value"""
_BUMP_SERIES = """INSERT INTO series SELECT $1::double precision, * FROM unnest($2::text[], $3::text[], $4::text[],
                    $5::bigint[])
                  ON CONFLICT (bucket, scope, name, metric) DO UPDATE SET value = series.value + excluded.value"""


async def bump(connection: asyncpg.Connection, counters: Counter[CounterKey], now: float) -> None:
    rows = [(*key, value) for key, value in sorted(counters.items()) if value]  # sorted: a stable lock order
    if not rows:
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    await connection.execute(_BUMP, *columns)
    await connection.execute(_BUMP_SERIES, now - now % SERIES_BUCKET_S, *columns)


async def notify(connection: asyncpg.Connection, destinations: set[str]) -> None:
    """Wake every replica's delivery for these destinations (sorted: a stable lock order)."""
    for destination in sorted(destinations):
        await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, destination)

"""The operator's actions on PostgreSQL: pause a destination, replay dead letters."""

from __future__ import annotations

from collections import Counter

import asyncpg

from ..base import DeadFilter, Pause
from .counters import bump, notify
from .reads import dead_where


async def pause(connection: asyncpg.Connection, pause: Pause) -> None:
    await connection.execute(
        """INSERT INTO destination_pauses VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (destination)
           DO UPDATE SET reason = excluded.reason, tiktok_code = excluded.tiktok_code,
             paused_at = excluded.paused_at, probe_at = excluded.probe_at, probes = excluded.probes,
             kind = excluded.kind""",
        pause.destination,
        pause.reason,
        pause.code,
        pause.paused_at,
        pause.probe_at,
        pause.probes,
        pause.kind,
    )


async def replay_dead(connection: asyncpg.Connection, where: DeadFilter, now: float) -> int:
    clause, params = dead_where(where, 3)
    rows = await connection.fetch(
        f"""UPDATE outbox SET state = 0, attempts = 0, next_attempt_at = $1, created_at = $1,
              lease_owner = NULL
            WHERE id IN (SELECT id FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC
                         LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING destination""",
        now,
        where.limit,
        *params,
    )
    await bump(connection, Counter(("destination", r["destination"], "replayed") for r in rows), now)
    await notify(connection, {r["destination"] for r in rows})
    return len(rows)

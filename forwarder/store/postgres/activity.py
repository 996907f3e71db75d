"""Past-behaviour activity, goal conversions and runs on PostgreSQL: the rules of SQLite's `writer/activity.py` and
`writer/past_runs.py` (the change set is planned by the same `plan_run`), made safe for replicas.

A run is applied in one transaction under a per-audience advisory lock, and only if the audience's last run is
still the one it followed: replicas running one schedule apply it once; the others' runs are no-ops.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import asyncpg

from ..audiences import ActivityRecord, PastRun
from ..base import CounterKey
from ..sqlite.audiences import CONVERSIONS, GROUPS
from ..sqlite.writer.activity import SEEN_PREFIX
from ..sqlite.writer.audiences import utc_day
from ..sqlite.writer.past_runs import Current, plan_run
from .audience_signals import resolve_user
from .counters import bump

_RUN_LOCK = 1512  # advisory lock class: one audience's past-behaviour run, (this, hashtext(audience))
_BUCKET = """INSERT INTO audience_activity VALUES ($1, $2, $3, $4, $4, 1, $5, $6)
             ON CONFLICT (activity, day, user_key) DO UPDATE SET
               first_at = least(audience_activity.first_at, excluded.first_at),
               last_at = greatest(audience_activity.last_at, excluded.last_at),
               count = audience_activity.count + 1, value_sum = audience_activity.value_sum + excluded.value_sum,
               consent = CASE WHEN excluded.last_at >= audience_activity.last_at THEN excluded.consent
                              ELSE audience_activity.consent END"""
_QUALIFYING = """SELECT a.user_key, min(a.first_at),
                   (SELECT consent FROM audience_activity l WHERE l.activity = $1 AND l.user_key = a.user_key
                    ORDER BY l.last_at DESC LIMIT 1),
                   (SELECT coalesce(json_agg(DISTINCT id_type), '[]')::text FROM audience_identities i
                    WHERE i.user_key = a.user_key)
                 FROM audience_activity a WHERE a.activity = $1 AND a.day >= $2
                   AND NOT EXISTS (SELECT 1 FROM audience_activity n WHERE n.activity = $3 AND n.day >= $2
                                   AND n.user_key = a.user_key)
                 GROUP BY a.user_key HAVING sum(a.count) >= $4 AND sum(a.value_sum) >= $5 ORDER BY a.user_key"""
_UPSERT = """INSERT INTO audience_members (audience, user_key, state, ids, held, entered_at, changed_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
             ON CONFLICT (audience, user_key) DO UPDATE SET version = audience_members.version + 1,
               state = excluded.state, ids = excluded.ids, held = excluded.held,
               entered_at = coalesce(CASE WHEN audience_members.state = 'in' THEN audience_members.entered_at END,
                                     excluded.entered_at),
               changed_at = excluded.changed_at, errored = NULL, attempts = 0, first_failure_at = NULL,
               next_attempt_at = 0"""


def _named(sql: str, names: list[str]) -> str:
    """SQLite's :name parameters as asyncpg's $n, in `names` order."""
    for number, name in enumerate(names, 1):
        sql = sql.replace(f":{name}", f"${number}")
    return sql


async def record_activity(connection: asyncpg.Connection, rows: list[ActivityRecord], now: float) -> None:
    """In the ingest transaction: each counted event once, however many replicas receive it."""
    for record in rows:
        ids: dict[str, str] = json.loads(record.ids)
        if not ids:
            continue
        seen = await connection.fetchval(
            "INSERT INTO audience_seen VALUES ('', $1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
            record.event_id, f"{SEEN_PREFIX}{record.kind}:{record.key}", now,
        )  # fmt: skip
        if seen is None:
            continue
        user = await resolve_user(connection, ids)
        if record.kind == "goal":
            await connection.execute(
                "INSERT INTO audience_conversions VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                record.key, record.event_id, user, record.at, record.value or 0.0,
            )  # fmt: skip
        else:
            await connection.execute(_BUCKET, record.key, user, utc_day(record.at), record.at, record.value or 0.0,
                                     record.consent)  # fmt: skip


async def qualifying(
    connection: asyncpg.Connection, did: str, since_day: str, at_least: int, value: float | None, not_did: str | None
) -> list[tuple[str, float, str | None, str]]:
    rows = await connection.fetch(_QUALIFYING, did, since_day, not_did or "", at_least, value or -1e300)
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def apply_run(connection: asyncpg.Connection, run: PastRun, now: float) -> dict[str, Any] | None:
    await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _RUN_LOCK, run.audience)
    await connection.execute("INSERT INTO audiences (name) VALUES ($1) ON CONFLICT DO NOTHING", run.audience)
    done = await connection.fetchval("SELECT past_run_at FROM audiences WHERE name = $1", run.audience)
    if done != run.last_run:
        return None  # another replica ran it first
    current: Current = {
        r["user_key"]: (r["state"], r["held"], r["synced"], r["ids"])
        for r in await connection.fetch(
            "SELECT user_key, state, held, synced, ids FROM audience_members WHERE audience = $1 FOR UPDATE",
            run.audience,
        )
    }
    ids_of: dict[str, dict[str, str]] = {}
    for r in await connection.fetch(
        "SELECT user_key, id_type, min(hash) AS hash FROM audience_identities WHERE user_key = ANY($1) GROUP BY 1, 2",
        [key for key, _, _ in run.users],
    ):
        ids_of.setdefault(r["user_key"], {})[r["id_type"]] = r["hash"]
    writes, summary = plan_run(current, run.users, ids_of, json.loads(run.sync_types))
    await connection.executemany(_UPSERT, [(run.audience, k, s, i, h, e, now) for k, s, i, h, e in writes])
    await connection.execute(
        "UPDATE audiences SET past_run_at = $2, past_run = $3 WHERE name = $1",
        run.audience, run.run_at, json.dumps({**summary, "at": run.run_at}),
    )  # fmt: skip
    counters: Counter[CounterKey] = Counter()
    counters["audience", run.audience, "entered"] += summary["entered"]
    counters["audience", run.audience, "exited"] += summary["left"]
    await bump(connection, counters, now)
    return summary


async def outcomes(
    connection: asyncpg.Connection, audience: str, goal: str
) -> tuple[list[tuple[str, str, float]], list[tuple[str, float, float]]]:
    groups = await connection.fetch(_named(GROUPS, ["audience"]), audience)
    conversions = await connection.fetch(_named(CONVERSIONS, ["goal", "audience"]), goal, audience)
    return [(r[0], r[1], r[2]) for r in groups], [(r[0], r[1], r[2]) for r in conversions]


async def purge_activity(connection: asyncpg.Connection, before: float) -> int:
    gone = await connection.execute("DELETE FROM audience_activity WHERE day < $1", utc_day(before))
    gone2 = await connection.execute("DELETE FROM audience_conversions WHERE at < $1", before)
    await connection.execute("DELETE FROM audience_seen WHERE audience = '' AND at < $1", before)
    return int(gone.split()[-1]) + int(gone2.split()[-1])

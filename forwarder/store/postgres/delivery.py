"""Delivery on PostgreSQL: claims with `FOR UPDATE SKIP LOCKED` plus a lease and an owner, resolutions fenced by
owner, and the token buckets of destinations and ingest keys, shared by every replica."""

from __future__ import annotations

from collections import Counter

import asyncpg

from ..base import Claimed, CounterKey, Resolution, State
from .counters import bump

_CLAIM = """WITH due AS (
              SELECT id FROM outbox WHERE destination = $1 AND state = $2 AND next_attempt_at <= $3
              ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
            UPDATE outbox o SET state = 1, lease_owner = $5, next_attempt_at = $6, attempts = o.attempts + 1
            FROM due WHERE o.id = due.id
            RETURNING o.id, o.destination, o.event, o.event_id, o.payload, o.test_event_code, o.attempts,
                      o.created_at"""
_METRIC_FOR_STATE = {State.DELIVERED: "delivered", State.FAILED: "failed", State.PENDING: "retried"}


async def claim_due(
    connection: asyncpg.Connection, owner: str, destination: str, limit: int, now: float, lease_s: float
) -> list[Claimed]:
    claimed: list[Claimed] = []
    for state in (State.IN_FLIGHT, State.PENDING):  # expired leases first
        if len(claimed) >= limit:
            break
        rows = await connection.fetch(_CLAIM, destination, int(state), now, limit - len(claimed), owner, now + lease_s)
        claimed += [Claimed(*row) for row in rows]
    return sorted(claimed, key=lambda c: c.id)


async def resolve(connection: asyncpg.Connection, owner: str, resolutions: list[Resolution], now: float) -> int:
    counters: Counter[CounterKey] = Counter()
    attempts = []
    for resolution in resolutions:
        outcome = resolution.outcome
        rows = await connection.fetch(
            """UPDATE outbox SET state = $1, next_attempt_at = $2, lease_owner = NULL,
                 attempts = attempts - $3, last_http_status = $4, last_code = $5, last_message = $6,
                 last_request_id = $7
               WHERE id = ANY($8::bigint[]) AND state = 1 AND lease_owner = $9
               RETURNING id, destination, attempts""",
            int(resolution.state),
            resolution.next_attempt_at if resolution.state == State.PENDING else now,
            0 if resolution.counts_as_attempt else 1,
            outcome.http_status,
            outcome.code,
            outcome.message,
            outcome.request_id,
            resolution.ids,
            owner,
        )
        for row in rows:
            attempts += [
                (row["id"], row["attempts"], now, o.http_status, o.code, o.message, o.request_id)
                for o in (*resolution.earlier, outcome)
            ]
            counters["destination", row["destination"], _METRIC_FOR_STATE[resolution.state]] += 1
        if rows and resolution.state != State.DELIVERED:
            await connection.execute(
                """INSERT INTO last_errors VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (destination) DO UPDATE
                   SET at = excluded.at, http_status = excluded.http_status,
                       tiktok_code = excluded.tiktok_code, message = excluded.message,
                       request_id = excluded.request_id""",
                rows[0]["destination"],
                now,
                outcome.http_status,
                outcome.code,
                outcome.message,
                outcome.request_id,
            )
    if attempts:
        await connection.executemany(
            """INSERT INTO attempts (outbox_id, attempt, at, http_status, tiktok_code, message, request_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            attempts,
        )
    await bump(connection, counters, now)
    return sum(counters.values())


async def release(connection: asyncpg.Connection, owner: str, ids: list[int]) -> None:
    await connection.execute(
        """UPDATE outbox SET state = 0, lease_owner = NULL, attempts = attempts - 1, next_attempt_at = 0
           WHERE id = ANY($1::bigint[]) AND state = 1 AND lease_owner = $2""",
        ids,
        owner,
    )


async def take_token(connection: asyncpg.Connection, destination: str, rate: float, burst: float, now: float) -> float:
    """A token bucket shared by every replica: 0 when a request may go now, else seconds to wait."""
    tokens = await connection.fetchval(
        """INSERT INTO rate_buckets VALUES ($1, $2, $3) ON CONFLICT (destination) DO UPDATE
           SET tokens = LEAST($2, rate_buckets.tokens + GREATEST(0, $3 - rate_buckets.updated_at) * $4),
               updated_at = GREATEST(rate_buckets.updated_at, $3)
           RETURNING tokens""",
        destination,
        burst,
        now,
        rate,
    )
    if tokens >= 1 - 1e-9:
        await connection.execute(
            "UPDATE rate_buckets SET tokens = GREATEST(0, tokens - 1) WHERE destination = $1", destination
        )
        return 0.0
    return float((1 - tokens) / rate)


async def take_key_token(connection: asyncpg.Connection, key_id: str, rate: float, burst: float, now: float) -> float:
    """One statement on the locked row: refill, take a token if there is one, record whether one was taken."""
    refilled = "LEAST($2, b.tokens + GREATEST(0, $3 - b.updated_at) * $4)"
    row = await connection.fetchrow(
        f"""INSERT INTO key_rate_buckets AS b VALUES ($1, $2 - 1, $3, true) ON CONFLICT (key_id) DO UPDATE
            SET tokens = {refilled} - CASE WHEN {refilled} >= 1 - 1e-9 THEN 1 ELSE 0 END,
                took = {refilled} >= 1 - 1e-9, updated_at = GREATEST(b.updated_at, $3)
            RETURNING tokens, took""",
        key_id,
        max(1.0, burst),
        now,
        rate,
    )
    return 0.0 if row["took"] else float((1 - row["tokens"]) / rate)

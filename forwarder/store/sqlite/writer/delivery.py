"""Delivery: claim due rows under a lease, resolve them after a send, release them unsent; destinations' rate limits."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import Any

from .counters import Counters, bump
from .db import DELIVERED, FAILED, PENDING

_METRIC_FOR_STATE = {DELIVERED: "delivered", FAILED: "failed", PENDING: "retried"}
# Expired leases first, then due pending rows; each half walks the (destination, state, next_attempt_at) index.
_CLAIM = """UPDATE outbox SET state = 1, lease_owner = :owner, next_attempt_at = :lease_until,
              attempts = attempts + 1
            WHERE id IN (SELECT id FROM (SELECT id FROM outbox
                                         WHERE destination = :destination AND state = 1 AND next_attempt_at <= :now
                                         ORDER BY next_attempt_at LIMIT :limit)
                         UNION ALL
                         SELECT id FROM (SELECT id FROM outbox
                                         WHERE destination = :destination AND state = 0 AND next_attempt_at <= :now
                                         ORDER BY next_attempt_at LIMIT :limit)
                         LIMIT :limit)
            RETURNING id, destination, event, event_id, payload, test_event_code, attempts, created_at"""
_RESOLVE = """UPDATE outbox SET state = :state, next_attempt_at = :next, lease_owner = NULL,
                attempts = attempts - :uncounted,
                last_http_status = :http_status, last_code = :code, last_message = :message,
                last_request_id = :request_id
              WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 1 AND lease_owner = :owner
              RETURNING id, destination, attempts"""


def claim_due(
    connection: sqlite3.Connection,
    counters: Counters,
    owner: str,
    destination: str,
    limit: int,
    now: float,
    lease_s: float,
) -> list[tuple[Any, ...]]:
    rows = connection.execute(
        _CLAIM,
        {"owner": owner, "destination": destination, "lease_until": now + lease_s, "now": now, "limit": limit},
    ).fetchall()
    return sorted(rows)


# One resolution: (ids, state, next_attempt_at, counts_as_attempt, outcomes); outcomes are every request that
# carried these rows, the last one deciding: (http_status, tiktok_code, message, request_id).
Resolution = tuple[list[int], int, float | None, bool, list[tuple[int | None, int | None, str, str | None]]]


def resolve(
    connection: sqlite3.Connection, counters: Counters, owner: str, resolutions: list[Resolution], now: float
) -> int:
    counted: Counter[tuple[str, str, str]] = Counter()
    attempts = []
    for ids, state, next_attempt_at, counts_as_attempt, outcomes in resolutions:
        http_status, code, message, request_id = outcomes[-1]
        rows = connection.execute(
            _RESOLVE,
            {
                "state": state,
                "next": next_attempt_at if state == PENDING else now,
                "http_status": http_status,
                "code": code,
                "message": message,
                "request_id": request_id,
                "ids": json.dumps(ids),
                "owner": owner,
                "uncounted": 0 if counts_as_attempt else 1,
            },
        ).fetchall()
        for outbox_id, destination, attempt in rows:
            attempts += [(outbox_id, attempt, now, *outcome) for outcome in outcomes]
            counted["destination", destination, _METRIC_FOR_STATE[state]] += 1
        if rows and state != DELIVERED:
            connection.execute(
                "INSERT OR REPLACE INTO last_errors VALUES (?, ?, ?, ?, ?, ?)",
                (rows[0][1], now, http_status, code, message, request_id),
            )
    connection.executemany(
        """INSERT INTO attempts (outbox_id, attempt, at, http_status, tiktok_code, message, request_id)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        attempts,
    )
    bump(connection, [(*key, value) for key, value in counted.items()], now)
    return sum(counted.values())


def take_token(
    connection: sqlite3.Connection, counters: Counters, destination: str, rate: float, burst: float, now: float
) -> float:
    (tokens,) = connection.execute(
        """INSERT INTO rate_buckets VALUES (?1, ?2, ?3) ON CONFLICT (destination) DO UPDATE
           SET tokens = min(?2, tokens + max(0, ?3 - updated_at) * ?4), updated_at = max(updated_at, ?3)
           RETURNING tokens""",
        (destination, burst, now, rate),
    ).fetchone()
    if tokens >= 1 - 1e-9:
        connection.execute("UPDATE rate_buckets SET tokens = max(0, tokens - 1) WHERE destination = ?", (destination,))
        return 0.0
    return float((1 - tokens) / rate)


def release(connection: sqlite3.Connection, counters: Counters, owner: str, ids: list[int]) -> None:
    connection.execute(
        """UPDATE outbox SET state = 0, lease_owner = NULL, attempts = attempts - 1, next_attempt_at = 0
           WHERE id IN (SELECT value FROM json_each(?)) AND state = 1 AND lease_owner = ?""",
        (json.dumps(ids), owner),
    )

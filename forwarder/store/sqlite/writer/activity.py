"""The activity past-behaviour rules and goals read, recorded in the ingest transaction (hashed users only).

`audience_activity`: per counted event (`activity`: its name, with a digest of the rule's `when`), user and UTC
day, the first and last time, count and value sum: compact, and exact for "in the last D days" to the day.
`audience_conversions`: each goal event once (its value too), for lift. Both are purged after the configured
retention (`purge_activity`). Each event counts once, however often it is sent (`audience_seen`).
The same rules are `store/postgres/activity.py`'s.
"""

from __future__ import annotations

import json
import sqlite3

from .audiences import resolve_user, utc_day
from .counters import Counters

# (kind: activity|goal, key, event_id, ids JSON, at, value, consent)
ActivityRow = tuple[str, str, str, str, float, float | None, str | None]

SEEN_PREFIX = "activity:"  # audience_seen rows of activity use audience '' and action 'activity:<key>'
_BUCKET = """INSERT INTO audience_activity VALUES (?, ?, ?, ?, ?, 1, ?, ?)
             ON CONFLICT (activity, day, user_key) DO UPDATE SET first_at = min(first_at, excluded.first_at),
               last_at = max(last_at, excluded.last_at), count = count + 1, value_sum = value_sum + excluded.value_sum,
               consent = CASE WHEN excluded.last_at >= last_at THEN excluded.consent ELSE consent END"""


def record_activity(connection: sqlite3.Connection, counters: Counters, now: float, rows: list[ActivityRow]) -> None:
    for kind, key, event_id, ids_json, at, value, consent in rows:
        ids: dict[str, str] = json.loads(ids_json)
        if not ids:
            continue  # nobody to count it for
        seen = connection.execute(
            "INSERT INTO audience_seen VALUES ('', ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            (event_id, f"{SEEN_PREFIX}{kind}:{key}", now),
        ).fetchone()
        if seen is None:
            continue
        user = resolve_user(connection, ids)
        if kind == "goal":
            connection.execute(
                "INSERT INTO audience_conversions VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (key, event_id, user, at, value or 0.0),
            )
        else:
            connection.execute(_BUCKET, (key, user, utc_day(at), at, at, value or 0.0, consent))


def purge_activity(connection: sqlite3.Connection, counters: Counters, before: float) -> int:
    """Drop activity and conversions older than the retention, and the seen-marks of those events."""
    gone = connection.execute("DELETE FROM audience_activity WHERE day < ?", (utc_day(before),)).rowcount
    gone += connection.execute("DELETE FROM audience_conversions WHERE at < ?", (before,)).rowcount
    connection.execute("DELETE FROM audience_seen WHERE audience = '' AND at < ?", (before,))
    return int(gone)

"""The operator's actions: pause and resume a destination, replay dead letters."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

from .counters import Counters, bump


def pause(connection: sqlite3.Connection, counters: Counters, row: tuple[Any, ...]) -> None:
    connection.execute("INSERT OR REPLACE INTO destination_pauses VALUES (?, ?, ?, ?, ?, ?, ?)", row)


def resume(connection: sqlite3.Connection, counters: Counters, destination: str) -> None:
    connection.execute("DELETE FROM destination_pauses WHERE destination = ?", (destination,))


def replay_dead(
    connection: sqlite3.Connection, counters: Counters, clause: str, params: list[Any], now: float, limit: int
) -> int:
    """`clause` selects dead letters; the parent builds it from a DeadFilter (column names, no values)."""
    rows = connection.execute(
        f"""UPDATE outbox SET state = 0, attempts = 0, next_attempt_at = ?, created_at = ?, lease_owner = NULL
            WHERE id IN (SELECT id FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC LIMIT ?)
            RETURNING destination""",
        (now, now, *params, limit),
    ).fetchall()
    replayed: Counter[str] = Counter(name for (name,) in rows)
    bump(connection, [("destination", name, "replayed", count) for name, count in replayed.items()], now)
    return len(rows)

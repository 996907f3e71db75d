"""The Marketing API connection's writes: the connected credential and the single-use OAuth states."""

from __future__ import annotations

import sqlite3
from typing import Any

from .counters import Counters


def save_marketing_credential(connection: sqlite3.Connection, counters: Counters, row: tuple[Any, ...]) -> None:
    """`row`: access_token, refresh_token, access_expires_at, refresh_expires_at, advertiser_ids and scopes (JSON
    text), connected_at."""
    connection.execute("INSERT OR REPLACE INTO marketing_credential VALUES (1, ?, ?, ?, ?, ?, ?, ?)", row)


def delete_marketing_credential(connection: sqlite3.Connection, counters: Counters) -> bool:
    return connection.execute("DELETE FROM marketing_credential").rowcount > 0


def create_oauth_state(
    connection: sqlite3.Connection, counters: Counters, state_digest: str, now: float, expires_at: float
) -> None:
    connection.execute("DELETE FROM oauth_states WHERE expires_at <= ?", (now,))
    connection.execute("INSERT OR REPLACE INTO oauth_states VALUES (?, ?, ?)", (state_digest, now, expires_at))


def consume_oauth_state(connection: sqlite3.Connection, counters: Counters, state_digest: str, now: float) -> bool:
    row = connection.execute(
        "DELETE FROM oauth_states WHERE state_digest = ? RETURNING expires_at", (state_digest,)
    ).fetchone()
    return row is not None and row[0] > now

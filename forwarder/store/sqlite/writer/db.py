"""The writer's connection to the database, and the outbox states every operation writes."""

from __future__ import annotations

import sqlite3

# Outbox states, as in base.State (this package imports nothing from forwarder).
PENDING, IN_FLIGHT, DELIVERED, FAILED, HELD = 0, 1, 2, 3, 4


def connect(path: str, synchronous: str, cache_mb: int = 2) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute("PRAGMA busy_timeout = 5000")
    connection.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")  # negative: KiB
    return connection

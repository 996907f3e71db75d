"""Counters: per name, for ever (`counters`), and per 5-minute bucket (`series`), for the status page's charts."""

from __future__ import annotations

import sqlite3
from collections import Counter

SERIES_BUCKET_S = 300
SERIES_RETENTION_S = 2 * 86400

_BUMP = """INSERT INTO counters VALUES (?, ?, ?, ?)
           ON CONFLICT (scope, name, metric) DO UPDATE SET value = value + excluded.value"""
_BUMP_SERIES = """INSERT INTO series VALUES (?, ?, ?, ?, ?)
                  ON CONFLICT (bucket, scope, name, metric) DO UPDATE SET value = value + excluded.value"""
CounterRow = tuple[str, str, str, int]  # scope, name, metric, value


class Counters:
    """Ingest counters of the group being committed, by series bucket: one upsert per group, not per request."""

    def __init__(self) -> None:
        self._by_bucket: dict[float, Counter[tuple[str, str, str]]] = {}

    def add(self, now: float, rows: list[CounterRow]) -> None:
        bucket = now - now % SERIES_BUCKET_S
        counter = self._by_bucket.get(bucket)
        if counter is None:  # not setdefault: that would build a Counter on every call
            counter = self._by_bucket[bucket] = Counter()
        for scope, name, metric, value in rows:
            counter[scope, name, metric] += value

    def flush(self, connection: sqlite3.Connection) -> None:
        for bucket, counter in self._by_bucket.items():
            bump(connection, [(*key, value) for key, value in counter.items()], bucket)
        self._by_bucket.clear()

    def forget(self) -> None:
        self._by_bucket.clear()


def bump(connection: sqlite3.Connection, rows: list[CounterRow], now: float) -> None:
    rows = [row for row in rows if row[3]]
    connection.executemany(_BUMP, rows)
    bucket = now - now % SERIES_BUCKET_S
    connection.executemany(_BUMP_SERIES, [(bucket, *row) for row in rows])

"""The embedded store: one SQLite file in WAL mode, all writes through one group-committing thread."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import sqlite_utils
from sqlite_utils.migrations import Migrations

from .base import (
    Claimed,
    CounterKey,
    DeadFilter,
    InboundRecord,
    IngestWrite,
    OutboxItem,
    Pause,
    Resolution,
    State,
)
from .writer import Writer

T = TypeVar("T")
migrations = Migrations("forwarder")


@migrations()
def m001_outbox(db: sqlite_utils.Database) -> None:
    for statement in (
        # Dedup keys outlive the outbox rows: they are kept for the dedup window, rows only until delivered.
        """CREATE TABLE dedup_keys (
             destination TEXT NOT NULL, event TEXT NOT NULL, event_id TEXT NOT NULL, first_seen REAL NOT NULL,
             PRIMARY KEY (destination, event, event_id)) WITHOUT ROWID""",
        "CREATE INDEX dedup_keys_first_seen ON dedup_keys (first_seen)",
        # next_attempt_at means: when due (pending), when the lease ends (in flight), when done (delivered).
        """CREATE TABLE outbox (
             id INTEGER PRIMARY KEY, destination TEXT NOT NULL, event TEXT NOT NULL, event_id TEXT NOT NULL,
             test_event_code TEXT, payload BLOB NOT NULL, state INTEGER NOT NULL DEFAULT 0,
             attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, lease_owner TEXT,
             created_at REAL NOT NULL, last_http_status INTEGER, last_code INTEGER, last_message TEXT,
             last_request_id TEXT)""",
        # Claims walk one destination's due rows, so a paused or slow destination costs the others nothing.
        "CREATE INDEX outbox_due ON outbox (destination, state, next_attempt_at)",
        "CREATE INDEX outbox_event_id ON outbox (event_id)",
        """CREATE TABLE attempts (
             id INTEGER PRIMARY KEY, outbox_id INTEGER NOT NULL, attempt INTEGER NOT NULL, at REAL NOT NULL,
             http_status INTEGER, tiktok_code INTEGER, message TEXT, request_id TEXT)""",
        "CREATE INDEX attempts_outbox_id ON attempts (outbox_id)",
        """CREATE TABLE counters (
             scope TEXT NOT NULL, name TEXT NOT NULL, metric TEXT NOT NULL, value INTEGER NOT NULL,
             PRIMARY KEY (scope, name, metric)) WITHOUT ROWID""",
        """CREATE TABLE last_errors (
             destination TEXT PRIMARY KEY, at REAL NOT NULL, http_status INTEGER, tiktok_code INTEGER,
             message TEXT, request_id TEXT)""",
        """CREATE TABLE destination_pauses (
             destination TEXT PRIMARY KEY, reason TEXT NOT NULL, tiktok_code INTEGER, paused_at REAL NOT NULL,
             probe_at REAL NOT NULL, probes INTEGER NOT NULL)""",
    ):
        db.execute(statement)


@migrations()
def m002_mapping_version(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE outbox ADD COLUMN mapping_version TEXT")


@migrations()
def m003_inbound_and_series(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE inbound (
             id INTEGER PRIMARY KEY, received_at REAL NOT NULL, source TEXT NOT NULL, event_id TEXT NOT NULL,
             event TEXT NOT NULL, document BLOB NOT NULL)"""
    )
    db.execute("CREATE INDEX inbound_event_id ON inbound (event_id)")
    db.execute("CREATE INDEX inbound_received_at ON inbound (received_at)")
    # Counters per 5-minute bucket, for the status page's last hour and last day.
    db.execute(
        """CREATE TABLE series (
             bucket REAL NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, metric TEXT NOT NULL,
             value INTEGER NOT NULL, PRIMARY KEY (bucket, scope, name, metric)) WITHOUT ROWID"""
    )


@migrations()
def m004_pause_kind(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE destination_pauses ADD COLUMN kind TEXT NOT NULL DEFAULT 'credentials'")


@migrations()
def m005_cheaper_inbound(db: sqlite_utils.Database) -> None:
    # One index fewer per stored inbound event; retention walks the rowid instead.
    db.execute("DROP INDEX inbound_received_at")


@migrations()
def m006_rate_buckets(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE rate_buckets (
             destination TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL)"""
    )


_INSERT_ROW = """INSERT INTO outbox (destination, event, event_id, test_event_code, payload, next_attempt_at,
                 created_at, mapping_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
_BUMP = """INSERT INTO counters VALUES (?, ?, ?, ?)
           ON CONFLICT (scope, name, metric) DO UPDATE SET value = value + excluded.value"""
_BUMP_SERIES = """INSERT INTO series VALUES (?, ?, ?, ?, ?)
                  ON CONFLICT (bucket, scope, name, metric) DO UPDATE SET value = value + excluded.value"""
SERIES_BUCKET_S = 300
SERIES_RETENTION_S = 2 * 86400
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
# Every destination that ever had an outbox row has an `accepted` counter.
_DESTINATIONS_WITH_ROWS = "SELECT name FROM counters WHERE scope = 'destination' AND metric = 'accepted'"
_QUEUE_FIGURE = {State.PENDING: "pending", State.IN_FLIGHT: "in_flight", State.FAILED: "dead"}
_METRIC_FOR_STATE = {State.DELIVERED: "delivered", State.FAILED: "failed", State.PENDING: "retried"}


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection


def _bump(connection: sqlite3.Connection, counters: Counter[CounterKey], now: float) -> None:
    rows = [(*key, value) for key, value in counters.items() if value]
    connection.executemany(_BUMP, rows)
    bucket = now - now % SERIES_BUCKET_S
    connection.executemany(_BUMP_SERIES, [(bucket, *row) for row in rows])


class SQLiteStore:
    def __init__(self, path: Path, *, synchronous: str = "FULL", group_commit_max: int = 256) -> None:
        self.path = path
        self._synchronous = synchronous
        self._group_commit_max = group_commit_max
        self._writer: Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        # Ingest counters of the group being committed, by series bucket: one upsert per group, not per request.
        # Touched only by the writer thread.
        self._pending_counters: dict[float, Counter[CounterKey]] = {}

    def _flush_counters(self, connection: sqlite3.Connection) -> None:
        for bucket, counters in self._pending_counters.items():
            _bump(connection, counters, bucket)
        self._pending_counters.clear()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect(self.path, self._synchronous)
        migrations.apply(sqlite_utils.Database(connection))
        self._writer = Writer(
            connection,
            max_group=self._group_commit_max,
            before_commit=self._flush_counters,
            after_rollback=self._pending_counters.clear,
        )
        self._writer.start()
        self._reader = _connect(self.path, self._synchronous)
        self._reader.execute("PRAGMA query_only = ON")

    async def close(self) -> None:
        if self._writer is not None:
            await anyio.to_thread.run_sync(self._writer.stop)
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise RuntimeError("store is not open")
        return await self._writer.write(work)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        reader = self._reader
        if reader is None:
            raise RuntimeError("store is not open")

        def locked() -> T:
            with self._read_lock:
                return work(reader)

        return await anyio.to_thread.run_sync(locked)

    async def ping(self) -> bool:
        if self._writer is None or not self._writer.is_alive():
            return False
        return bool(await self._read(lambda c: c.execute("SELECT 1").fetchone()))

    async def enqueue(self, write: IngestWrite, now: float) -> list[bool]:
        def work(connection: sqlite3.Connection) -> list[bool]:
            inserted = _insert_new_keys(connection, write.items, now)
            connection.executemany(
                _INSERT_ROW,
                [
                    (
                        item.destination,
                        item.event,
                        item.event_id,
                        item.test_event_code,
                        item.payload,
                        now,
                        now,
                        item.mapping_version,
                    )
                    for item, is_new in zip(write.items, inserted, strict=True)
                    if is_new
                ],
            )
            counters = write.counters.copy()
            for item, is_new in zip(write.items, inserted, strict=True):
                counters["destination", item.destination, "accepted" if is_new else "duplicates"] += 1
            connection.executemany(
                "INSERT INTO inbound (received_at, source, event_id, event, document) VALUES (?, ?, ?, ?, ?)",
                [(now, r.source, r.event_id, r.event, r.document) for r in write.inbound],
            )
            # Last, once nothing in this write can fail any more: the group flushes it before COMMIT.
            bucket = now - now % SERIES_BUCKET_S
            self._pending_counters.setdefault(bucket, Counter()).update(counters)
            return inserted

        return await self._write(work)

    async def claim_due(self, owner: str, destination: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        def work(connection: sqlite3.Connection) -> list[Claimed]:
            rows = connection.execute(
                _CLAIM,
                {"owner": owner, "destination": destination, "lease_until": now + lease_s, "now": now, "limit": limit},
            ).fetchall()
            return sorted((Claimed(*row) for row in rows), key=lambda claimed: claimed.id)

        return await self._write(work)

    async def resolve(self, owner: str, resolutions: list[Resolution], now: float) -> int:
        def work(connection: sqlite3.Connection) -> int:
            counters: Counter[CounterKey] = Counter()
            attempts = []
            for resolution in resolutions:
                outcome = resolution.outcome
                rows = connection.execute(
                    _RESOLVE,
                    {
                        "state": int(resolution.state),
                        "next": resolution.next_attempt_at if resolution.state == State.PENDING else now,
                        "http_status": outcome.http_status,
                        "code": outcome.tiktok_code,
                        "message": outcome.message,
                        "request_id": outcome.request_id,
                        "ids": json.dumps(resolution.ids),
                        "owner": owner,
                        "uncounted": 0 if resolution.counts_as_attempt else 1,
                    },
                ).fetchall()
                for outbox_id, destination, attempt in rows:
                    attempts += [
                        (outbox_id, attempt, now, o.http_status, o.tiktok_code, o.message, o.request_id)
                        for o in (*resolution.earlier, outcome)
                    ]
                    counters["destination", destination, _METRIC_FOR_STATE[resolution.state]] += 1
                if rows and resolution.state != State.DELIVERED:
                    connection.execute(
                        "INSERT OR REPLACE INTO last_errors VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            rows[0][1],
                            now,
                            outcome.http_status,
                            outcome.tiktok_code,
                            outcome.message,
                            outcome.request_id,
                        ),
                    )
            connection.executemany(
                """INSERT INTO attempts (outbox_id, attempt, at, http_status, tiktok_code, message, request_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                attempts,
            )
            _bump(connection, counters, now)
            return sum(counters.values())

        return await self._write(work)

    async def take_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        def work(connection: sqlite3.Connection) -> float:
            (tokens,) = connection.execute(
                """INSERT INTO rate_buckets VALUES (?1, ?2, ?3) ON CONFLICT (destination) DO UPDATE
                   SET tokens = min(?2, tokens + max(0, ?3 - updated_at) * ?4), updated_at = max(updated_at, ?3)
                   RETURNING tokens""",
                (destination, burst, now, rate),
            ).fetchone()
            if tokens >= 1 - 1e-9:
                connection.execute(
                    "UPDATE rate_buckets SET tokens = max(0, tokens - 1) WHERE destination = ?", (destination,)
                )
                return 0.0
            return float((1 - tokens) / rate)

        return await self._write(work)

    async def release(self, owner: str, ids: list[int]) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                """UPDATE outbox SET state = 0, lease_owner = NULL, attempts = attempts - 1, next_attempt_at = 0
                   WHERE id IN (SELECT value FROM json_each(?)) AND state = 1 AND lease_owner = ?""",
                (json.dumps(ids), owner),
            )

        await self._write(work)

    async def stats(self, now: float) -> dict[str, Any]:
        def work(connection: sqlite3.Connection) -> dict[str, Any]:
            scopes: dict[str, dict[str, dict[str, Any]]] = {"destinations": {}, "sources": {}}
            for scope, name, metric, value in connection.execute("SELECT * FROM counters"):
                scopes[f"{scope}s"].setdefault(name, {})[metric] = value
            destinations = scopes["destinations"]
            for name, state, count, oldest in connection.execute(
                """SELECT destination, state, count(*), min(created_at) FROM outbox
                   WHERE state IN (0, 1, 3) GROUP BY destination, state"""
            ):
                entry = destinations.setdefault(name, {})
                entry[_QUEUE_FIGURE[state]] = count
                if state != State.FAILED:
                    age = round(now - oldest, 3)
                    entry["oldest_pending_age_s"] = max(entry.get("oldest_pending_age_s", 0.0), age)
            for name, reason, code, paused_at, probe_at, probes, kind in connection.execute(
                "SELECT * FROM destination_pauses"
            ):
                destinations.setdefault(name, {})["paused"] = {
                    "kind": kind,
                    "reason": reason,
                    "tiktok_code": code,
                    "since": paused_at,
                    "next_probe_at": probe_at,
                    "failed_probes": probes,
                }
            for name, at, http_status, code, message, request_id in connection.execute("SELECT * FROM last_errors"):
                destinations.setdefault(name, {})["last_error"] = {
                    "at": at,
                    "http_status": http_status,
                    "tiktok_code": code,
                    "message": message,
                    "request_id": request_id,
                }
            return scopes

        return await self._read(work)

    async def purge(
        self, now: float, *, dedup_window_s: float, delivered_retention_s: float, inbound_retention_s: float, limit: int
    ) -> int:
        def work(connection: sqlite3.Connection) -> int:
            keys = connection.execute(
                """DELETE FROM dedup_keys WHERE (destination, event, event_id) IN (
                     SELECT destination, event, event_id FROM dedup_keys WHERE first_seen < ? LIMIT ?)""",
                (now - dedup_window_s, limit),
            ).rowcount
            destinations = [row[0] for row in connection.execute(_DESTINATIONS_WITH_ROWS)]
            ids = [
                row[0]
                for destination in destinations
                for row in connection.execute(
                    """SELECT id FROM outbox WHERE destination = ? AND state = 2 AND next_attempt_at < ?
                       ORDER BY next_attempt_at LIMIT ?""",
                    (destination, now - delivered_retention_s, limit),
                )
            ]
            _delete_rows(connection, ids)
            inbound = connection.execute(
                # Rows arrive in time order: look at the oldest `limit` only, never the whole table.
                """DELETE FROM inbound WHERE id IN (
                     SELECT id FROM (SELECT id, received_at FROM inbound ORDER BY id LIMIT ?) WHERE received_at < ?)""",
                (limit, now - inbound_retention_s),
            ).rowcount
            buckets = connection.execute(
                """DELETE FROM series WHERE (bucket, scope, name, metric) IN (
                     SELECT bucket, scope, name, metric FROM series WHERE bucket < ? LIMIT ?)""",
                (now - SERIES_RETENTION_S, limit),
            ).rowcount
            return keys + len(ids) + inbound + buckets

        return await self._write(work)

    async def backlog(self) -> int:
        row = await self._read(
            lambda c: c.execute(
                """SELECT coalesce(sum(CASE WHEN metric IN ('accepted', 'replayed') THEN value ELSE -value END), 0)
                   FROM counters WHERE scope = 'destination' AND metric IN ('accepted', 'replayed', 'delivered',
                   'failed')"""
            ).fetchone()
        )
        return int(row[0])

    async def size_bytes(self) -> int:
        paths = [self.path, self.path.with_name(self.path.name + "-wal")]
        return sum(path.stat().st_size for path in paths if path.exists())

    async def pauses(self) -> dict[str, Pause]:
        rows = await self._read(lambda c: c.execute("SELECT * FROM destination_pauses").fetchall())
        return {row[0]: Pause(*row) for row in rows}

    async def pause(self, pause: Pause) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT OR REPLACE INTO destination_pauses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    pause.destination,
                    pause.reason,
                    pause.tiktok_code,
                    pause.paused_at,
                    pause.probe_at,
                    pause.probes,
                    pause.kind,
                ),
            )

        await self._write(work)

    async def resume(self, destination: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM destination_pauses WHERE destination = ?", (destination,)))

    async def recent_inbound(self, limit: int) -> list[tuple[float, InboundRecord]]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT received_at, source, event_id, event, document FROM inbound ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        )
        return [(row[0], InboundRecord(*row[1:])) for row in rows]

    async def ledger(self, event_id: str) -> dict[str, Any]:
        def work(connection: sqlite3.Connection) -> dict[str, Any]:
            received = [
                {"at": at, "source": source, "event": event}
                for at, source, event in connection.execute(
                    "SELECT received_at, source, event FROM inbound WHERE event_id = ? ORDER BY id", (event_id,)
                )
            ]
            outbox = []
            for row in connection.execute(
                """SELECT id, destination, event, mapping_version, state, created_at, attempts, next_attempt_at,
                          test_event_code FROM outbox WHERE event_id = ? ORDER BY id""",
                (event_id,),
            ):
                attempts = [
                    {
                        "attempt": a,
                        "at": at,
                        "http_status": status,
                        "tiktok_code": code,
                        "message": message,
                        "request_id": request_id,
                    }
                    for a, at, status, code, message, request_id in connection.execute(
                        """SELECT attempt, at, http_status, tiktok_code, message, request_id FROM attempts
                           WHERE outbox_id = ? ORDER BY id""",
                        (row[0],),
                    )
                ]
                outbox.append(
                    {
                        "destination": row[1],
                        "event": row[2],
                        "mapping_version": row[3],
                        "state": State(row[4]).name.lower(),
                        "stored_at": row[5],
                        "attempts": attempts,
                        "next_attempt_at": row[7] if row[4] == 0 else None,
                        "test_event_code": row[8],
                    }
                )
            return {"event_id": event_id, "received": received, "deliveries": outbox}

        return await self._read(work)

    async def dead_letters(self, where: DeadFilter) -> list[dict[str, Any]]:
        clause, params = _dead_where(where)
        rows = await self._read(
            lambda c: c.execute(
                f"""SELECT id, destination, event, event_id, created_at, next_attempt_at, attempts, last_http_status,
                           last_code, last_message, last_request_id
                    FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC LIMIT ?""",
                (*params, where.limit),
            ).fetchall()
        )
        keys = (
            "id",
            "destination",
            "event",
            "event_id",
            "stored_at",
            "failed_at",
            "attempts",
            "http_status",
            "tiktok_code",
            "message",
            "request_id",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def replay_dead(self, where: DeadFilter, now: float) -> int:
        clause, params = _dead_where(where)

        def work(connection: sqlite3.Connection) -> int:
            rows = connection.execute(
                f"""UPDATE outbox SET state = 0, attempts = 0, next_attempt_at = ?, created_at = ?, lease_owner = NULL
                    WHERE id IN (SELECT id FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC LIMIT ?)
                    RETURNING destination""",
                (now, now, *params, where.limit),
            ).fetchall()
            _bump(connection, Counter(("destination", name, "replayed") for (name,) in rows), now)
            return len(rows)

        return await self._write(work)

    async def recent_errors(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._read(
            lambda c: c.execute(
                """SELECT a.at, o.destination, o.event, o.event_id, a.http_status, a.tiktok_code, a.message,
                          a.request_id
                   FROM attempts a JOIN outbox o ON o.id = a.outbox_id
                   WHERE a.tiktok_code IS NULL OR a.tiktok_code NOT IN (0, 20001)
                   ORDER BY a.id DESC LIMIT ?""",
                (limit,),
            ).fetchall()
        )
        keys = ("at", "destination", "event", "event_id", "http_status", "tiktok_code", "message", "request_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def series(self, since: float) -> list[tuple[float, str, str, int]]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT bucket, name, metric, value FROM series WHERE scope = 'destination' AND bucket >= ?", (since,)
            ).fetchall()
        )
        return [(bucket, name, metric, value) for bucket, name, metric, value in rows]

    async def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query, for tests and operators' tools."""
        return await self._read(lambda c: c.execute(sql, tuple(params)).fetchall())


_KEYS_PER_STATEMENT = 500  # 4 parameters each: well under SQLite's 32,766 parameters per statement


def _insert_new_keys(connection: sqlite3.Connection, items: list[OutboxItem], now: float) -> list[bool]:
    """Insert the dedup keys of `items`, a few statements for the lot; True per item seen here for the first time."""
    new: set[tuple[str, str, str]] = set()
    for start in range(0, len(items), _KEYS_PER_STATEMENT):
        chunk = items[start : start + _KEYS_PER_STATEMENT]
        values = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
        parameters = [value for item in chunk for value in (item.destination, item.event, item.event_id, now)]
        new.update(
            connection.execute(
                f"INSERT INTO dedup_keys VALUES {values} ON CONFLICT DO NOTHING RETURNING destination, event, event_id",
                parameters,
            ).fetchall()
        )
    inserted = []
    for item in items:
        key = (item.destination, item.event, item.event_id)
        inserted.append(key in new)
        new.discard(key)  # a second copy in the same request is a duplicate of the first
    return inserted


def _dead_where(where: DeadFilter) -> tuple[str, list[Any]]:
    """SQL conditions for dead letters (state 3; next_attempt_at holds when they failed)."""
    conditions = where.conditions()
    clause = " AND ".join(["state = 3", *(f"{condition} ?" for condition, _ in conditions)])
    return clause, [value for _, value in conditions]


def _delete_rows(connection: sqlite3.Connection, ids: list[int]) -> None:
    if ids:
        encoded = json.dumps(ids)
        connection.execute("DELETE FROM attempts WHERE outbox_id IN (SELECT value FROM json_each(?))", (encoded,))
        connection.execute("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))", (encoded,))

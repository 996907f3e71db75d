"""The embedded store: one SQLite file in WAL mode; every write goes through one group-committing writer process
(writer_process.py, shared by all workers), reads use a connection of this process."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
import sqlite_utils
import structlog
from sqlite_utils.migrations import Migrations

from ...errors import StoreUnavailable
from ..base import (
    NOT_FORWARDED_COLUMNS,
    ORDER_MATCH_COLUMNS,
    Claimed,
    DeadFilter,
    InboundRecord,
    IngestWrite,
    Pause,
    Resolution,
    Stored,
)
from ..views import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    RECENT_ERRORS,
    STATS_QUERIES,
    delivery_entry,
    error_entry,
    received_entry,
    stats_document,
)
from . import writer_process as writer
from .writer_client import WriterClient
from .writer_process import LEGACY_ORDER_SOURCE, KeyBuckets, connect

T = TypeVar("T")
P = ParamSpec("P")
log = structlog.get_logger(__name__)
_STORED = tuple(Stored)  # by value: the writer answers plain ints (and bools, which are 0 and 1)
migrations = Migrations("forwarder")
# What SQLite keeps beside the database file; it gives each the database file's mode when it creates it.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
FILE_MODE = 0o600


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


@migrations()
def m007_dedup_keys_lead_to_outbox_rows(db: sqlite_utils.Database) -> None:
    # Dedup keys lead with event_id and record their outbox row, so the ledger finds an event's rows through them
    # and the outbox's event_id index can go: one random B-tree insert per ingested event fewer.
    db.execute(
        """CREATE TABLE dedup_keys_by_event (
             event_id TEXT NOT NULL, destination TEXT NOT NULL, event TEXT NOT NULL, first_seen REAL NOT NULL,
             outbox_id INTEGER, PRIMARY KEY (event_id, destination, event)) WITHOUT ROWID"""
    )
    db.execute(
        """INSERT INTO dedup_keys_by_event
           SELECT d.event_id, d.destination, d.event, d.first_seen,
                  (SELECT max(o.id) FROM outbox AS o
                   WHERE o.event_id = d.event_id AND o.destination = d.destination AND o.event = d.event)
           FROM dedup_keys AS d"""
    )
    # Undelivered rows whose key the dedup window already dropped get one back (purge now keeps those keys).
    db.execute(
        """INSERT OR IGNORE INTO dedup_keys_by_event
           SELECT event_id, destination, event, created_at, max(id) FROM outbox WHERE state != 2
           GROUP BY event_id, destination, event"""
    )
    db.execute("DROP TABLE dedup_keys")
    db.execute("ALTER TABLE dedup_keys_by_event RENAME TO dedup_keys")
    db.execute("CREATE INDEX dedup_keys_first_seen ON dedup_keys (first_seen)")
    db.execute("DROP INDEX outbox_event_id")


@migrations()
def m008_order_keys(db: sqlite_utils.Database) -> None:
    # Orders become a dedup key of their own, per reporting source, beside the sender's event_id (which used to be
    # replaced by `order_<transaction id>`). Every report of an order that is not sent is recorded as a match.
    db.execute(
        """CREATE TABLE order_keys (
             destination TEXT NOT NULL, order_id TEXT NOT NULL, source TEXT NOT NULL, event_id TEXT NOT NULL,
             event TEXT NOT NULL, value REAL, currency TEXT, first_seen REAL NOT NULL,
             PRIMARY KEY (destination, order_id, source)) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX order_keys_first_seen ON order_keys (first_seen)")
    db.execute(
        """CREATE TABLE order_matches (
             id INTEGER PRIMARY KEY, at REAL NOT NULL, destination TEXT NOT NULL, order_id TEXT NOT NULL,
             kind TEXT NOT NULL, status TEXT NOT NULL, differs TEXT NOT NULL, outbox_id INTEGER,
             event_id TEXT NOT NULL, source TEXT NOT NULL, event TEXT NOT NULL, value REAL, currency TEXT,
             first_event_id TEXT NOT NULL, first_source TEXT NOT NULL, first_event TEXT NOT NULL, first_value REAL,
             first_currency TEXT)"""
    )
    db.execute("CREATE INDEX order_matches_event_id ON order_matches (event_id)")
    db.execute("CREATE INDEX order_matches_first_event_id ON order_matches (first_event_id)")
    # Orders stored before this migration keep deduplicating for the rest of the window, as they did then: against
    # every source (source '*'), their content compared only where the outbox row still says it.
    db.execute(
        f"""INSERT OR IGNORE INTO order_keys
           SELECT k.destination, substr(k.event_id, 7), '{LEGACY_ORDER_SOURCE}', k.event_id, k.event,
                  json_extract(CAST(o.payload AS TEXT), '$.properties.value'),
                  json_extract(CAST(o.payload AS TEXT), '$.properties.currency'), k.first_seen
           FROM dedup_keys AS k LEFT JOIN outbox AS o ON o.id = k.outbox_id AND o.event_id = k.event_id
           WHERE substr(k.event_id, 1, 6) = 'order_'
           ORDER BY k.first_seen"""
    )


@migrations()
def m009_not_forwarded(db: sqlite_utils.Database) -> None:
    # Events accepted and sent nowhere, per name: /v1/stats and the status page show what no rule maps.
    db.execute(
        """CREATE TABLE not_forwarded (
             event TEXT NOT NULL, source TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
             first_at REAL NOT NULL, last_at REAL NOT NULL, event_id TEXT NOT NULL,
             PRIMARY KEY (event, source, reason)) WITHOUT ROWID"""
    )


def make_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal and -shm then inherit that mode), and take
    group and other permissions away from an existing one and its companions: it holds hashed PII and payloads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES)):
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                file.chmod(mode & 0o700)
                log.warning("store.file_mode_tightened", file=str(file), was=oct(mode), mode=oct(mode & 0o700))


def migrate(path: Path, synchronous: str) -> None:
    """Create or upgrade the schema (sqlite-utils records which migrations ran)."""
    make_private(path)
    with contextlib.closing(connect(str(path), synchronous)) as connection:
        migrations.apply(sqlite_utils.Database(connection))


class SQLiteStore:
    def __init__(
        self, path: Path, *, synchronous: str = "FULL", group_commit_max: int = 256, writer_socket: Path | None = None
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._group_commit_max = group_commit_max
        self._writer_socket = writer_socket  # a writer shared by several workers, or None to start our own
        self._writer: WriterClient | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._key_buckets = KeyBuckets()  # used when this process is the only one serving (no shared writer)

    async def open(self) -> None:
        migrate(self.path, self._synchronous)
        self._writer = WriterClient(
            self.path, synchronous=self._synchronous, max_group=self._group_commit_max, socket=self._writer_socket
        )
        await self._writer.start()
        self._reader = connect(str(self.path), self._synchronous)
        self._reader.execute("PRAGMA query_only = ON")

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def _write(
        self,
        operation: Callable[Concatenate[sqlite3.Connection, writer.Counters, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run one of `writer_process`'s operations in the writer process: a wrong name or argument fails mypy."""
        if self._writer is None:
            raise RuntimeError("store is not open")
        return await self._writer.call(operation, *args, **kwargs)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        reader = self._reader
        if reader is None:
            raise RuntimeError("store is not open")

        def locked() -> T:
            # One read transaction: every statement of `work` sees the same snapshot, so stats never count an
            # event neither pending nor delivered because a commit landed between two of its SELECTs.
            with self._read_lock:
                reader.execute("BEGIN")
                try:
                    return work(reader)
                finally:
                    reader.execute("ROLLBACK")

        return await anyio.to_thread.run_sync(locked)

    async def ping(self) -> bool:
        """Whether writes can go through now; a writer that went away is replaced first, as a write would do, so
        that a ready probe does not keep the service out of rotation until some write restarts it."""
        if self._writer is None:
            return False
        try:
            await self._writer.ensure_running()
        except StoreUnavailable:
            return False
        return bool(await self._read(lambda c: c.execute("SELECT 1").fetchone()))

    async def enqueue(self, write: IngestWrite, now: float) -> list[Stored]:
        # Plain tuples cross the pipe: the writer process does not import this package.
        items = [
            (i.destination, i.event, i.event_id, i.payload, i.test_event_code, i.mapping_version) for i in write.items
        ]
        inbound = [(r.source, r.event_id, r.event, r.document) for r in write.inbound]
        counters = [(scope, name, metric, value) for (scope, name, metric), value in write.counters.items()]
        orders = [(o.item, o.order_id, o.source, o.sources, o.value, o.currency) for o in write.orders]
        dropped = [(n.event, n.source, n.reason, n.events, n.event_id) for n in write.not_forwarded]
        stored: list[int] = await self._write(writer.enqueue, now, items, inbound, counters, orders, dropped)
        return [_STORED[what] for what in stored]

    async def claim_due(self, owner: str, destination: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        rows = await self._write(writer.claim_due, owner, destination, limit, now, lease_s)
        return [Claimed(*row) for row in rows]

    async def resolve(self, owner: str, resolutions: list[Resolution], now: float) -> int:
        plain = [
            (
                r.ids,
                int(r.state),
                r.next_attempt_at,
                r.counts_as_attempt,
                [(o.http_status, o.code, o.message, o.request_id) for o in (*r.earlier, r.outcome)],
            )
            for r in resolutions
        ]
        resolved: int = await self._write(writer.resolve, owner, plain, now)
        return resolved

    async def take_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        wait_s: float = await self._write(writer.take_token, destination, rate, burst, now)
        return wait_s

    async def take_key_token(self, key_id: str, rate: float, burst: float, now: float) -> float:
        if self._writer_socket is None:
            return self._key_buckets.take(key_id, rate, burst, now)  # one process: no round trip needed
        wait_s: float = await self._write(writer.take_key_token, key_id, rate, burst, now)
        return wait_s

    async def release(self, owner: str, ids: list[int]) -> None:
        await self._write(writer.release, owner, ids)

    async def stats(self, now: float) -> dict[str, Any]:
        def work(connection: sqlite3.Connection) -> dict[str, Any]:
            rows = [connection.execute(query).fetchall() for query in STATS_QUERIES]
            return stats_document(rows, now)

        return await self._read(work)

    async def purge(
        self, now: float, *, dedup_window_s: float, delivered_retention_s: float, inbound_retention_s: float, limit: int
    ) -> int:
        removed: int = await self._write(
            writer.purge, now, dedup_window_s, delivered_retention_s, inbound_retention_s, limit
        )
        return removed

    async def backlog(self) -> int:
        row = await self._read(
            lambda c: c.execute(
                """SELECT coalesce(sum(CASE WHEN metric IN ('accepted', 'replayed', 'released') THEN value
                                       ELSE -value END), 0)
                   FROM counters WHERE scope = 'destination' AND metric IN ('accepted', 'replayed', 'released',
                   'delivered', 'failed')"""
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
        await self._write(writer.pause, dataclasses.astuple(pause))  # the columns of destination_pauses, in order

    async def resume(self, destination: str) -> None:
        await self._write(writer.resume, destination)

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
                received_entry(row)
                for row in connection.execute(
                    "SELECT received_at, source, event FROM inbound WHERE event_id = ? ORDER BY id", (event_id,)
                )
            ]
            outbox = [
                delivery_entry(
                    row,
                    connection.execute(
                        f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts WHERE outbox_id = ? ORDER BY id", (row[0],)
                    ),
                )
                for row in connection.execute(
                    f"""SELECT {DELIVERY_COLUMNS} FROM outbox
                        WHERE id IN (SELECT outbox_id FROM dedup_keys WHERE event_id = ?) AND event_id = ?
                        ORDER BY id""",
                    (event_id, event_id),
                ).fetchall()
            ]
            orders = [
                dict(zip(ORDER_MATCH_COLUMNS, row, strict=True))
                for row in connection.execute(
                    f"""SELECT {", ".join(ORDER_MATCH_COLUMNS)} FROM order_matches
                        WHERE event_id = ? OR first_event_id = ? ORDER BY id""",
                    (event_id, event_id),
                )
            ]
            return {"event_id": event_id, "received": received, "deliveries": outbox, "orders": orders}

        return await self._read(work)

    async def order_conflicts(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._read(
            lambda c: c.execute(
                f"""SELECT {", ".join(ORDER_MATCH_COLUMNS)} FROM order_matches WHERE kind = 'conflict'
                    ORDER BY id DESC LIMIT ?""",
                (limit,),
            ).fetchall()
        )
        return [dict(zip(ORDER_MATCH_COLUMNS, row, strict=True)) for row in rows]

    async def release_held(self, conflict_id: int, now: float) -> bool:
        released: bool = await self._write(writer.release_held, conflict_id, now)
        return released

    async def not_forwarded(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT {', '.join(NOT_FORWARDED_COLUMNS)} FROM not_forwarded ORDER BY count DESC, event LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [dict(zip(NOT_FORWARDED_COLUMNS, row, strict=True)) for row in rows]

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
        replayed: int = await self._write(writer.replay_dead, clause, params, now, where.limit)
        return replayed

    async def recent_errors(self, limit: int) -> list[dict[str, Any]]:
        query = RECENT_ERRORS.format(limit="?")
        rows = await self._read(lambda c: c.execute(query, (limit,)).fetchall())
        return [error_entry(row) for row in rows]

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


def _dead_where(where: DeadFilter) -> tuple[str, list[Any]]:
    """SQL conditions for dead letters (state 3; next_attempt_at holds when they failed)."""
    conditions = where.conditions()
    clause = " AND ".join(["state = 3", *(f"{condition} ?" for condition, _ in conditions)])
    return clause, [value for _, value in conditions]

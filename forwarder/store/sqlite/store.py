"""The embedded store: one SQLite file in WAL mode; every write goes through one group-committing writer process
(writer_process.py, shared by all workers), reads use a connection of this process."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
import structlog

from ...errors import StoreUnavailable
from ..audiences import AudienceLedger
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
from ..marketing import MarketingCredential
from ..views import (
    RECENT_ERRORS,
    STATS_QUERIES,
    error_entry,
    stats_document,
)
from . import reads
from .audiences import SQLiteAudienceLedger
from .migrations import migrate
from .reports import SQLiteReports
from .writer import operations as writer
from .writer.counters import Counters
from .writer.db import connect
from .writer.key_buckets import KeyBuckets
from .writer_client import WriterClient

T = TypeVar("T")
P = ParamSpec("P")
log = structlog.get_logger(__name__)
_STORED = tuple(Stored)  # by value: the writer answers plain ints (and bools, which are 0 and 1)


class SQLiteStore(SQLiteReports):
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
        self._delivery_buckets = KeyBuckets()  # the same, for destinations' rate limits (same arithmetic)
        self.audiences: AudienceLedger = SQLiteAudienceLedger(self)

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
        operation: Callable[Concatenate[sqlite3.Connection, Counters, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run one of the writer's operations (`writer/operations.py`) in the writer process: a wrong name or
        argument fails mypy."""
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
        signals = [
            (s.audience, s.action, s.event_id, s.ids, s.sync_types, s.at, s.due_at, s.expires_at, s.consent_held,
             s.holdout_share, s.holdout_key)
            for s in write.audience_signals
        ]  # fmt: skip
        activity = [(a.kind, a.key, a.event_id, a.ids, a.at, a.value, a.consent) for a in write.activity]
        stored: list[int] = await self._write(
            writer.enqueue, now, items, inbound, counters, orders, dropped, signals, activity
        )
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

    async def take_delivery_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        if self._writer_socket is None:
            # One process delivers: a durable bucket cost a group commit per request, on the critical path of
            # every send (measured: a third of the delivery rate at 200 ms latency).
            return self._delivery_buckets.take(destination, rate, burst, now)
        return await self.take_token(destination, rate, burst, now)

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
        return await self._read(lambda c: reads.ledger(c, event_id))

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
        return await self._read(lambda c: reads.dead_letters(c, where))

    async def replay_dead(self, where: DeadFilter, now: float) -> int:
        clause, params = reads.dead_where(where)
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

    async def save_marketing_credential(self, credential: MarketingCredential) -> None:
        await self._write(writer.save_marketing_credential, reads.credential_row(credential))

    async def marketing_credential(self) -> MarketingCredential | None:
        return await self._read(reads.marketing_credential)

    async def delete_marketing_credential(self) -> bool:
        deleted: bool = await self._write(writer.delete_marketing_credential)
        return deleted

    async def create_oauth_state(self, state_digest: str, now: float, expires_at: float) -> None:
        await self._write(writer.create_oauth_state, state_digest, now, expires_at)

    async def consume_oauth_state(self, state_digest: str, now: float) -> bool:
        consumed: bool = await self._write(writer.consume_oauth_state, state_digest, now)
        return consumed

    async def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query, for tests and operators' tools."""
        return await self._read(lambda c: c.execute(sql, tuple(params)).fetchall())

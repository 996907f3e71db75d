"""The shared store for several replicas: PostgreSQL through an asyncpg pool. PostgresStore holds the pool, its
transactions and LISTEN; the SQL of each concern lives beside it (migrations, ingest, orders, delivery, purge,
admin, reads) as functions of a connection.

The same tables and rules as the SQLite store: dedup with `INSERT ... ON CONFLICT DO NOTHING`, claims with
`FOR UPDATE SKIP LOCKED` plus a lease and an owner, acknowledgements fenced by owner. New events are announced
with NOTIFY so replicas wake at once (polling remains the fallback). Any database error becomes
StoreUnavailable, so ingest answers 503 and delivery retries its pass; nothing needs a restart when the
database comes back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
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
from . import admin, delivery, ingest, marketing, orders, purge, reads
from .audiences import PostgresAudienceLedger
from .counters import CHANNEL
from .migrations import migrate
from .reports import PostgresReports

log = structlog.get_logger(__name__)
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ConnectionError, TimeoutError)


class PostgresStore(PostgresReports):
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self.audiences: AudienceLedger = PostgresAudienceLedger(self)

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self._pool_size, command_timeout=30)
        async with self._pool.acquire() as connection:
            await migrate(connection)

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(*_DB_ERRORS):
                await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def _connection(self, transaction: bool = True, snapshot: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, in a transaction unless told otherwise; `snapshot`: one read-only snapshot for
        several SELECTs that must agree (stats, the ledger)."""
        if self._pool is None:
            raise RuntimeError("store is not open")
        try:
            async with self._pool.acquire() as connection:
                if snapshot:
                    async with connection.transaction(isolation="repeatable_read", readonly=True):
                        yield connection
                elif transaction:
                    async with connection.transaction():
                        yield connection
                else:
                    yield connection
        except _DB_ERRORS as error:
            raise StoreUnavailable(f"PostgreSQL: {type(error).__name__}: {error}") from error

    async def listen(self, on_new_events: Callable[[str], None]) -> bool:
        """Call `on_new_events(destination)` when any replica stores events; False if LISTEN is not possible."""
        try:
            self._listener = await asyncpg.connect(self.url)
            await self._listener.add_listener(CHANNEL, lambda *args: on_new_events(str(args[-1])))
        except _DB_ERRORS as error:
            log.warning("store.listen_unavailable", error=str(error))
            self._listener = None
            return False
        return True

    def is_listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def ping(self) -> bool:
        try:
            async with self._connection(transaction=False) as connection:
                return bool(await connection.fetchval("SELECT 1"))
        except StoreUnavailable:
            return False

    async def enqueue(self, write: IngestWrite, now: float) -> list[Stored]:
        for attempt in range(3):
            try:
                async with self._connection() as connection:
                    return await ingest.enqueue(connection, write, now)
            except StoreUnavailable as error:
                # PostgreSQL broke a deadlock by failing this transaction, which rolled back whole: run it again
                # (replicas storing one user's events at once), before telling the client to retry.
                if attempt == 2 or not isinstance(error.__cause__, asyncpg.DeadlockDetectedError):
                    raise
        raise AssertionError("unreachable")

    async def claim_due(self, owner: str, destination: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        async with self._connection() as connection:
            return await delivery.claim_due(connection, owner, destination, limit, now, lease_s)

    async def resolve(self, owner: str, resolutions: list[Resolution], now: float) -> int:
        async with self._connection() as connection:
            return await delivery.resolve(connection, owner, resolutions, now)

    async def release(self, owner: str, ids: list[int]) -> None:
        async with self._connection() as connection:
            await delivery.release(connection, owner, ids)

    async def take_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        async with self._connection() as connection:
            return await delivery.take_token(connection, destination, rate, burst, now)

    async def take_delivery_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        return await self.take_token(destination, rate, burst, now)  # replicas share it: always the table's

    async def take_key_token(self, key_id: str, rate: float, burst: float, now: float) -> float:
        async with self._connection(transaction=False) as connection:
            return await delivery.take_key_token(connection, key_id, rate, burst, now)

    async def stats(self, now: float) -> dict[str, Any]:
        async with self._connection(snapshot=True) as connection:
            rows = [await connection.fetch(query) for query in STATS_QUERIES]
            return stats_document(rows, now)

    async def backlog(self) -> int:
        async with self._connection(transaction=False) as connection:
            value = await connection.fetchval(
                """SELECT coalesce(sum(CASE WHEN metric IN ('accepted', 'replayed', 'released') THEN value
                                       ELSE -value END), 0)
                   FROM counters WHERE scope = 'destination'
                     AND metric IN ('accepted', 'replayed', 'released', 'delivered', 'failed')"""
            )
            return int(value)

    async def size_bytes(self) -> int:
        async with self._connection(transaction=False) as connection:
            return int(await connection.fetchval("SELECT pg_database_size(current_database())"))

    async def pauses(self) -> dict[str, Pause]:
        async with self._connection(transaction=False) as connection:
            rows = await connection.fetch(
                "SELECT destination, reason, tiktok_code, paused_at, probe_at, probes, kind FROM destination_pauses"
            )
        return {row["destination"]: Pause(*row) for row in rows}

    async def pause(self, pause: Pause) -> None:
        async with self._connection() as connection:
            await admin.pause(connection, pause)

    async def resume(self, destination: str) -> None:
        async with self._connection() as connection:
            await connection.execute("DELETE FROM destination_pauses WHERE destination = $1", destination)

    async def purge(
        self, now: float, *, dedup_window_s: float, delivered_retention_s: float, inbound_retention_s: float, limit: int
    ) -> int:
        async with self._connection() as connection:
            return await purge.purge(
                connection,
                now,
                dedup_window_s=dedup_window_s,
                delivered_retention_s=delivered_retention_s,
                inbound_retention_s=inbound_retention_s,
                limit=limit,
            )

    async def recent_inbound(self, limit: int) -> list[tuple[float, InboundRecord]]:
        async with self._connection(transaction=False) as connection:
            rows = await connection.fetch(
                "SELECT received_at, source, event_id, event, document FROM inbound ORDER BY id DESC LIMIT $1", limit
            )
        return [
            (r["received_at"], InboundRecord(r["source"], r["event_id"], r["event"], bytes(r["document"])))
            for r in rows
        ]

    async def ledger(self, event_id: str) -> dict[str, Any]:
        async with self._connection(snapshot=True) as connection:
            return await reads.ledger(connection, event_id)

    async def order_conflicts(self, limit: int) -> list[dict[str, Any]]:
        async with self._connection(transaction=False) as connection:
            rows = await connection.fetch(
                f"""SELECT {", ".join(ORDER_MATCH_COLUMNS)} FROM order_matches WHERE kind = 'conflict'
                    ORDER BY id DESC LIMIT $1""",
                limit,
            )
        return [dict(row) for row in rows]

    async def not_forwarded(self, limit: int) -> list[dict[str, Any]]:
        async with self._connection(transaction=False) as connection:
            rows = await connection.fetch(
                f"SELECT {', '.join(NOT_FORWARDED_COLUMNS)} FROM not_forwarded ORDER BY count DESC, event LIMIT $1",
                limit,
            )
        return [dict(row) for row in rows]

    async def release_held(self, conflict_id: int, now: float) -> bool:
        async with self._connection() as connection:
            return await orders.release_held(connection, conflict_id, now)

    async def series(self, since: float) -> list[tuple[float, str, str, int]]:
        async with self._connection(transaction=False) as connection:
            rows = await connection.fetch(
                "SELECT bucket, name, metric, value FROM series WHERE scope = 'destination' AND bucket >= $1", since
            )
        return [(r["bucket"], r["name"], r["metric"], r["value"]) for r in rows]

    async def recent_errors(self, limit: int) -> list[dict[str, Any]]:
        async with self._connection(transaction=False) as connection:
            rows = await connection.fetch(RECENT_ERRORS.format(limit="$1"), limit)
        return [error_entry(row) for row in rows]

    async def dead_letters(self, where: DeadFilter) -> list[dict[str, Any]]:
        async with self._connection(transaction=False) as connection:
            return await reads.dead_letters(connection, where)

    async def replay_dead(self, where: DeadFilter, now: float) -> int:
        async with self._connection() as connection:
            return await admin.replay_dead(connection, where, now)

    async def save_marketing_credential(self, credential: MarketingCredential) -> None:
        async with self._connection() as connection:
            await marketing.save_credential(connection, credential)

    async def marketing_credential(self) -> MarketingCredential | None:
        async with self._connection(transaction=False) as connection:
            return await marketing.credential(connection)

    async def delete_marketing_credential(self) -> bool:
        async with self._connection() as connection:
            return str(await connection.execute("DELETE FROM marketing_credential")) != "DELETE 0"

    async def create_oauth_state(self, state_digest: str, now: float, expires_at: float) -> None:
        async with self._connection() as connection:
            await marketing.create_state(connection, state_digest, now, expires_at)

    async def consume_oauth_state(self, state_digest: str, now: float) -> bool:
        async with self._connection() as connection:
            return await marketing.consume_state(connection, state_digest, now)

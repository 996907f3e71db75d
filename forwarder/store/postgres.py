"""The shared store for several replicas: PostgreSQL through an asyncpg pool.

The same tables and rules as the SQLite store: dedup with `INSERT ... ON CONFLICT DO NOTHING`, claims with
`FOR UPDATE SKIP LOCKED` plus a lease and an owner, acknowledgements fenced by owner. New events are announced
with NOTIFY so replicas wake at once (polling remains the fallback). Any database error becomes
StoreUnavailable, so ingest answers 503 and delivery retries its pass; nothing needs a restart when the
database comes back.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import structlog

from ..errors import StoreUnavailable
from .base import (
    NOT_FORWARDED_COLUMNS,
    ORDER_MATCH_COLUMNS,
    Claimed,
    CounterKey,
    DeadFilter,
    InboundRecord,
    IngestWrite,
    Pause,
    Resolution,
    State,
    Stored,
)
from .postgres_orders import purge_orders, settle_orders
from .sqlite.writer_process import LEGACY_ORDER_SOURCE
from .views import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    RECENT_ERRORS,
    STATS_QUERIES,
    delivery_entry,
    error_entry,
    received_entry,
    stats_document,
)

log = structlog.get_logger(__name__)
CHANNEL = "forwarder_outbox"
SERIES_BUCKET_S = 300
SERIES_RETENTION_S = 2 * 86400
_LOCK_ID = 7_301_234_567  # advisory lock serialising schema migrations between replicas starting together
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ConnectionError, TimeoutError)

MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_schema",
        """
        CREATE TABLE dedup_keys (
          destination text NOT NULL, event text NOT NULL, event_id text NOT NULL, first_seen double precision NOT NULL,
          PRIMARY KEY (destination, event, event_id));
        CREATE INDEX dedup_keys_first_seen ON dedup_keys (first_seen);
        CREATE TABLE outbox (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, destination text NOT NULL, event text NOT NULL,
          event_id text NOT NULL, test_event_code text, payload bytea NOT NULL, state smallint NOT NULL DEFAULT 0,
          attempts integer NOT NULL DEFAULT 0, next_attempt_at double precision NOT NULL, lease_owner text,
          created_at double precision NOT NULL, last_http_status integer, last_code integer, last_message text,
          last_request_id text, mapping_version text)
          WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);
        CREATE INDEX outbox_due ON outbox (destination, state, next_attempt_at);
        CREATE INDEX outbox_event_id ON outbox (event_id);
        CREATE TABLE attempts (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, outbox_id bigint NOT NULL, attempt integer NOT NULL,
          at double precision NOT NULL, http_status integer, tiktok_code integer, message text, request_id text);
        CREATE INDEX attempts_outbox_id ON attempts (outbox_id);
        CREATE TABLE counters (
          scope text NOT NULL, name text NOT NULL, metric text NOT NULL, value bigint NOT NULL,
          PRIMARY KEY (scope, name, metric));
        CREATE TABLE last_errors (
          destination text PRIMARY KEY, at double precision NOT NULL, http_status integer, tiktok_code integer,
          message text, request_id text);
        CREATE TABLE destination_pauses (
          destination text PRIMARY KEY, reason text NOT NULL, tiktok_code integer, paused_at double precision NOT NULL,
          probe_at double precision NOT NULL, probes integer NOT NULL, kind text NOT NULL DEFAULT 'credentials');
        CREATE TABLE inbound (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_at double precision NOT NULL,
          source text NOT NULL, event_id text NOT NULL, event text NOT NULL, document bytea NOT NULL);
        CREATE INDEX inbound_event_id ON inbound (event_id);
        CREATE TABLE series (
          bucket double precision NOT NULL, scope text NOT NULL, name text NOT NULL, metric text NOT NULL,
          value bigint NOT NULL, PRIMARY KEY (bucket, scope, name, metric));
        CREATE TABLE rate_buckets (
          destination text PRIMARY KEY, tokens double precision NOT NULL, updated_at double precision NOT NULL);
        """,
    ),
    (
        # Orders become a dedup key of their own, per reporting source, beside the sender's event_id (which used to
        # be replaced by `order_<transaction id>`); orders stored before keep deduplicating against every source.
        "m002_order_keys",
        f"""
        CREATE TABLE order_keys (
          destination text NOT NULL, order_id text NOT NULL, source text NOT NULL, event_id text NOT NULL,
          event text NOT NULL, value double precision, currency text, first_seen double precision NOT NULL,
          PRIMARY KEY (destination, order_id, source));
        CREATE INDEX order_keys_first_seen ON order_keys (first_seen);
        CREATE TABLE order_matches (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at double precision NOT NULL, destination text NOT NULL,
          order_id text NOT NULL, kind text NOT NULL, status text NOT NULL, differs text NOT NULL, outbox_id bigint,
          event_id text NOT NULL, source text NOT NULL, event text NOT NULL, value double precision, currency text,
          first_event_id text NOT NULL, first_source text NOT NULL, first_event text NOT NULL,
          first_value double precision, first_currency text);
        CREATE INDEX order_matches_event_id ON order_matches (event_id);
        CREATE INDEX order_matches_first_event_id ON order_matches (first_event_id);
        INSERT INTO order_keys
          SELECT DISTINCT ON (k.destination, substr(k.event_id, 7))
                 k.destination, substr(k.event_id, 7), '{LEGACY_ORDER_SOURCE}', k.event_id, k.event,
                 (convert_from(o.payload, 'UTF8')::jsonb #>> '{{properties,value}}')::double precision,
                 convert_from(o.payload, 'UTF8')::jsonb #>> '{{properties,currency}}', k.first_seen
          FROM dedup_keys AS k LEFT JOIN outbox AS o
            ON o.event_id = k.event_id AND o.destination = k.destination AND o.event = k.event
          WHERE left(k.event_id, 6) = 'order_'
          ORDER BY k.destination, substr(k.event_id, 7), k.first_seen;
        """,
    ),
    (
        # Ingest keys' rate limits: unlogged, a crash only refills the buckets.
        "m003_key_rate_buckets",
        """
        CREATE UNLOGGED TABLE key_rate_buckets (
          key_id text PRIMARY KEY, tokens double precision NOT NULL, updated_at double precision NOT NULL,
          took boolean NOT NULL);
        """,
    ),
    (
        # Events accepted and sent nowhere, per name: /v1/stats and the status page show what no rule maps.
        "m004_not_forwarded",
        """
        CREATE TABLE not_forwarded (
          event text NOT NULL, source text NOT NULL, reason text NOT NULL, count bigint NOT NULL,
          first_at double precision NOT NULL, last_at double precision NOT NULL, event_id text NOT NULL,
          PRIMARY KEY (event, source, reason));
        """,
    ),
]

_BUMP = """INSERT INTO counters SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
           ON CONFLICT (scope, name, metric) DO UPDATE SET value = counters.value + excluded.value"""
_BUMP_SERIES = """INSERT INTO series SELECT $1::double precision, * FROM unnest($2::text[], $3::text[], $4::text[],
                    $5::bigint[])
                  ON CONFLICT (bucket, scope, name, metric) DO UPDATE SET value = series.value + excluded.value"""
_CLAIM = """WITH due AS (
              SELECT id FROM outbox WHERE destination = $1 AND state = $2 AND next_attempt_at <= $3
              ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
            UPDATE outbox o SET state = 1, lease_owner = $5, next_attempt_at = $6, attempts = o.attempts + 1
            FROM due WHERE o.id = due.id
            RETURNING o.id, o.destination, o.event, o.event_id, o.payload, o.test_event_code, o.attempts,
                      o.created_at"""
_OUTCOME_METRIC = {
    Stored.NEW: "accepted",
    Stored.DUPLICATE: "duplicates",
    Stored.ORDER_DUPLICATE: "order_duplicates",
    Stored.HELD: "order_conflicts",
}
_METRIC_FOR_STATE = {State.DELIVERED: "delivered", State.FAILED: "failed", State.PENDING: "retried"}


async def _bump(connection: asyncpg.Connection, counters: Counter[CounterKey], now: float) -> None:
    rows = [(*key, value) for key, value in sorted(counters.items()) if value]  # sorted: a stable lock order
    if not rows:
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    await connection.execute(_BUMP, *columns)
    await connection.execute(_BUMP_SERIES, now - now % SERIES_BUCKET_S, *columns)


def _dead_where(where: DeadFilter, first: int) -> tuple[str, list[Any]]:
    """Conditions for dead letters, with placeholders numbered from `$first`."""
    conditions = where.conditions()
    numbered = (f"{condition} ${first + index}" for index, (condition, _) in enumerate(conditions))
    return " AND ".join(["state = 3", *numbered]), [value for _, value in conditions]


class PostgresStore:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self._pool_size, command_timeout=30)
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS forwarder_migrations (name text PRIMARY KEY, applied_at timestamptz "
                "NOT NULL DEFAULT now())"
            )
            applied = {row["name"] for row in await connection.fetch("SELECT name FROM forwarder_migrations")}
            for name, sql in MIGRATIONS:
                if name not in applied:
                    await connection.execute(sql)
                    await connection.execute("INSERT INTO forwarder_migrations (name) VALUES ($1)", name)
                    log.info("store.migrated", migration=name)

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
        items = write.items
        async with self._connection() as connection:
            new = set()
            if items:
                rows = await connection.fetch(
                    """INSERT INTO dedup_keys SELECT d, e, i, $4 FROM unnest($1::text[], $2::text[], $3::text[])
                         AS k(d, e, i) ON CONFLICT DO NOTHING RETURNING destination, event, event_id""",
                    [i.destination for i in items],
                    [i.event for i in items],
                    [i.event_id for i in items],
                    now,
                )
                new = {(r["destination"], r["event"], r["event_id"]) for r in rows}
            stored = []
            for item in items:
                key = (item.destination, item.event, item.event_id)
                stored.append(Stored.NEW if key in new else Stored.DUPLICATE)
                new.discard(key)
            if write.orders:  # an event without an order id costs this test only
                await settle_orders(connection, now, items, stored, write.orders)
            fresh = [item for item, what in zip(items, stored, strict=True) if what is Stored.NEW]
            if fresh:
                await connection.executemany(
                    """INSERT INTO outbox (destination, event, event_id, test_event_code, payload, next_attempt_at,
                       created_at, mapping_version) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)""",
                    [
                        (i.destination, i.event, i.event_id, i.test_event_code, i.payload, now, i.mapping_version)
                        for i in fresh
                    ],
                )
            counters = write.counters.copy()
            for item, what in zip(items, stored, strict=True):
                counters["destination", item.destination, _OUTCOME_METRIC[what]] += 1
            await _bump(connection, counters, now)
            if write.not_forwarded:
                await connection.executemany(
                    """INSERT INTO not_forwarded VALUES ($1, $2, $3, $4, $5, $5, $6)
                       ON CONFLICT (event, source, reason) DO UPDATE SET count = not_forwarded.count + excluded.count,
                         last_at = excluded.last_at, event_id = excluded.event_id""",
                    [(*row[:4], now, row[4]) for row in sorted(write.not_forwarded)],  # sorted: a stable lock order
                )
            if write.inbound:
                await connection.executemany(
                    "INSERT INTO inbound (received_at, source, event_id, event, document) VALUES ($1, $2, $3, $4, $5)",
                    [(now, r.source, r.event_id, r.event, r.document) for r in write.inbound],
                )
            for destination in sorted({item.destination for item in fresh}):
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, destination)
        return stored

    async def claim_due(self, owner: str, destination: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        claimed: list[Claimed] = []
        async with self._connection() as connection:
            for state in (State.IN_FLIGHT, State.PENDING):  # expired leases first
                if len(claimed) >= limit:
                    break
                rows = await connection.fetch(
                    _CLAIM, destination, int(state), now, limit - len(claimed), owner, now + lease_s
                )
                claimed += [Claimed(*row) for row in rows]
        return sorted(claimed, key=lambda c: c.id)

    async def resolve(self, owner: str, resolutions: list[Resolution], now: float) -> int:
        counters: Counter[CounterKey] = Counter()
        async with self._connection() as connection:
            attempts = []
            for resolution in resolutions:
                outcome = resolution.outcome
                rows = await connection.fetch(
                    """UPDATE outbox SET state = $1, next_attempt_at = $2, lease_owner = NULL,
                         attempts = attempts - $3, last_http_status = $4, last_code = $5, last_message = $6,
                         last_request_id = $7
                       WHERE id = ANY($8::bigint[]) AND state = 1 AND lease_owner = $9
                       RETURNING id, destination, attempts""",
                    int(resolution.state),
                    resolution.next_attempt_at if resolution.state == State.PENDING else now,
                    0 if resolution.counts_as_attempt else 1,
                    outcome.http_status,
                    outcome.code,
                    outcome.message,
                    outcome.request_id,
                    resolution.ids,
                    owner,
                )
                for row in rows:
                    attempts += [
                        (row["id"], row["attempts"], now, o.http_status, o.code, o.message, o.request_id)
                        for o in (*resolution.earlier, outcome)
                    ]
                    counters["destination", row["destination"], _METRIC_FOR_STATE[resolution.state]] += 1
                if rows and resolution.state != State.DELIVERED:
                    await connection.execute(
                        """INSERT INTO last_errors VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (destination) DO UPDATE
                           SET at = excluded.at, http_status = excluded.http_status,
                               tiktok_code = excluded.tiktok_code, message = excluded.message,
                               request_id = excluded.request_id""",
                        rows[0]["destination"],
                        now,
                        outcome.http_status,
                        outcome.code,
                        outcome.message,
                        outcome.request_id,
                    )
            if attempts:
                await connection.executemany(
                    """INSERT INTO attempts (outbox_id, attempt, at, http_status, tiktok_code, message, request_id)
                       VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                    attempts,
                )
            await _bump(connection, counters, now)
        return sum(counters.values())

    async def release(self, owner: str, ids: list[int]) -> None:
        async with self._connection() as connection:
            await connection.execute(
                """UPDATE outbox SET state = 0, lease_owner = NULL, attempts = attempts - 1, next_attempt_at = 0
                   WHERE id = ANY($1::bigint[]) AND state = 1 AND lease_owner = $2""",
                ids,
                owner,
            )

    async def take_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        """A token bucket shared by every replica: 0 when a request may go now, else seconds to wait."""
        async with self._connection() as connection:
            tokens = await connection.fetchval(
                """INSERT INTO rate_buckets VALUES ($1, $2, $3) ON CONFLICT (destination) DO UPDATE
                   SET tokens = LEAST($2, rate_buckets.tokens + GREATEST(0, $3 - rate_buckets.updated_at) * $4),
                       updated_at = GREATEST(rate_buckets.updated_at, $3)
                   RETURNING tokens""",
                destination,
                burst,
                now,
                rate,
            )
            if tokens >= 1 - 1e-9:
                await connection.execute(
                    "UPDATE rate_buckets SET tokens = GREATEST(0, tokens - 1) WHERE destination = $1", destination
                )
                return 0.0
            return float((1 - tokens) / rate)

    async def take_key_token(self, key_id: str, rate: float, burst: float, now: float) -> float:
        """One statement on the locked row: refill, take a token if there is one, record whether one was taken."""
        refilled = "LEAST($2, b.tokens + GREATEST(0, $3 - b.updated_at) * $4)"
        async with self._connection(transaction=False) as connection:
            row = await connection.fetchrow(
                f"""INSERT INTO key_rate_buckets AS b VALUES ($1, $2 - 1, $3, true) ON CONFLICT (key_id) DO UPDATE
                    SET tokens = {refilled} - CASE WHEN {refilled} >= 1 - 1e-9 THEN 1 ELSE 0 END,
                        took = {refilled} >= 1 - 1e-9, updated_at = GREATEST(b.updated_at, $3)
                    RETURNING tokens, took""",
                key_id,
                max(1.0, burst),
                now,
                rate,
            )
        return 0.0 if row["took"] else float((1 - row["tokens"]) / rate)

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
            await connection.execute(
                """INSERT INTO destination_pauses VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (destination)
                   DO UPDATE SET reason = excluded.reason, tiktok_code = excluded.tiktok_code,
                     paused_at = excluded.paused_at, probe_at = excluded.probe_at, probes = excluded.probes,
                     kind = excluded.kind""",
                pause.destination,
                pause.reason,
                pause.code,
                pause.paused_at,
                pause.probe_at,
                pause.probes,
                pause.kind,
            )

    async def resume(self, destination: str) -> None:
        async with self._connection() as connection:
            await connection.execute("DELETE FROM destination_pauses WHERE destination = $1", destination)

    async def purge(
        self, now: float, *, dedup_window_s: float, delivered_retention_s: float, inbound_retention_s: float, limit: int
    ) -> int:
        # Small batches in their own short transactions keep locks brief and let autovacuum keep up.
        async with self._connection() as connection:
            keys = await connection.fetchval(
                # A key whose event is still undelivered (pending, in flight or dead) stays, as on SQLite.
                """WITH gone AS (DELETE FROM dedup_keys WHERE ctid IN (
                     SELECT ctid FROM dedup_keys AS d WHERE first_seen < $1
                       AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.event_id = d.event_id
                                         AND o.destination = d.destination AND o.event = d.event AND o.state != 2)
                     LIMIT $2) RETURNING 1)
                   SELECT count(*) FROM gone""",
                now - dedup_window_s,
                limit,
            )
            destinations = [
                r["name"]
                for r in await connection.fetch(
                    "SELECT name FROM counters WHERE scope = 'destination' AND metric = 'accepted'"
                )
            ]
            ids: list[int] = []
            for destination in destinations:
                ids += [
                    r["id"]
                    for r in await connection.fetch(
                        """SELECT id FROM outbox WHERE destination = $1 AND state = 2 AND next_attempt_at < $2
                       ORDER BY next_attempt_at LIMIT $3""",
                        destination,
                        now - delivered_retention_s,
                        limit,
                    )
                ]
            if ids:
                await connection.execute("DELETE FROM attempts WHERE outbox_id = ANY($1::bigint[])", ids)
                await connection.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
            inbound = await connection.fetchval(
                """WITH gone AS (DELETE FROM inbound WHERE id IN (
                     SELECT id FROM (SELECT id, received_at FROM inbound ORDER BY id LIMIT $1) oldest
                     WHERE received_at < $2) RETURNING 1) SELECT count(*) FROM gone""",
                limit,
                now - inbound_retention_s,
            )
            orders = await purge_orders(connection, now, dedup_window_s, limit)
            buckets = await connection.fetchval(
                """WITH gone AS (DELETE FROM series WHERE ctid IN (
                     SELECT ctid FROM series WHERE bucket < $1 LIMIT $2) RETURNING 1) SELECT count(*) FROM gone""",
                now - SERIES_RETENTION_S,
                limit,
            )
            names = await connection.fetchval(
                # A name not seen for as long as the charts reach leaves the list (names come from clients).
                """WITH gone AS (DELETE FROM not_forwarded WHERE ctid IN (
                     SELECT ctid FROM not_forwarded WHERE last_at < $1 LIMIT $2) RETURNING 1)
                   SELECT count(*) FROM gone""",
                now - SERIES_RETENTION_S,
                limit,
            )
        return int(keys) + len(ids) + int(inbound) + orders + int(buckets) + int(names)

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
            received = [
                received_entry(row)
                for row in await connection.fetch(
                    "SELECT received_at, source, event FROM inbound WHERE event_id = $1 ORDER BY id", event_id
                )
            ]
            deliveries = []
            for row in await connection.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM outbox WHERE event_id = $1 ORDER BY id", event_id
            ):
                attempts = await connection.fetch(
                    f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts WHERE outbox_id = $1 ORDER BY id", row["id"]
                )
                deliveries.append(delivery_entry(row, attempts))
            orders = [
                dict(row)
                for row in await connection.fetch(
                    f"""SELECT {", ".join(ORDER_MATCH_COLUMNS)} FROM order_matches
                        WHERE event_id = $1 OR first_event_id = $1 ORDER BY id""",
                    event_id,
                )
            ]
        return {"event_id": event_id, "received": received, "deliveries": deliveries, "orders": orders}

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
            match = await connection.fetchrow(
                "SELECT outbox_id, destination FROM order_matches WHERE id = $1 AND status = 'held' FOR UPDATE",
                conflict_id,
            )
            if match is None:
                return False
            released = await connection.fetch(
                """UPDATE outbox SET state = 0, next_attempt_at = $1, created_at = $1 WHERE id = $2 AND state = 4
                   RETURNING id""",
                now,
                match["outbox_id"],
            )
            await connection.execute("UPDATE order_matches SET status = 'released' WHERE id = $1", conflict_id)
            await _bump(connection, Counter({("destination", match["destination"], "released"): len(released)}), now)
            if released:
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, match["destination"])
        return bool(released)

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
        clause, params = _dead_where(where, 1)
        async with self._connection(transaction=False) as connection:
            rows = await connection.fetch(
                f"""SELECT id, destination, event, event_id, created_at AS stored_at, next_attempt_at AS failed_at,
                           attempts, last_http_status AS http_status, last_code AS tiktok_code,
                           last_message AS message, last_request_id AS request_id
                    FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC LIMIT ${len(params) + 1}""",
                *params,
                where.limit,
            )
        return [dict(r) for r in rows]

    async def replay_dead(self, where: DeadFilter, now: float) -> int:
        clause, params = _dead_where(where, 3)
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"""UPDATE outbox SET state = 0, attempts = 0, next_attempt_at = $1, created_at = $1,
                      lease_owner = NULL
                    WHERE id IN (SELECT id FROM outbox WHERE {clause} ORDER BY next_attempt_at DESC
                                 LIMIT $2 FOR UPDATE SKIP LOCKED)
                    RETURNING destination""",
                now,
                where.limit,
                *params,
            )
            await _bump(connection, Counter(("destination", r["destination"], "replayed") for r in rows), now)
            for destination in sorted({r["destination"] for r in rows}):
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, destination)
        return len(rows)

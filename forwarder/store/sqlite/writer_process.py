"""The SQLite writer process: every write to the SQLite store, group-committed, in a process of its own.

Why a process and not a thread: CPython's GIL. The sqlite3 module releases the GIL around every statement
step and takes it back afterwards; while the event loop thread runs Python (under load, all the time), each
take-back waits for the interpreter's 5 ms switch interval. Measured on our 2-core box: a thread inserting
20-row groups fell from 83,000 rows/s to 740 rows/s beside one busy Python thread, and ingest requests
queued behind it. A process has its own interpreter: its SQLite work runs on the other core, and the event
loop pays only for pickling what it sends.

Clients: the parent over the child's stdin and stdout and, when started with a socket path (`server.workers`
> 1), every worker over that Unix socket, which lives in a private (0700) directory: frames are pickles, so
only our own processes may connect. Frames are a 4-byte big-endian length and a pickle. Clients send lists of
jobs `(job_id, operation, args)`; the writer answers each client's jobs of a group with a list of
`(job_id, error, result)`, where `error` is None or `(kind, message)` and kind is "store" (SQLite refused:
the caller may retry later) or "bug". All jobs read together, from every client, share one transaction and
one fsync (group commit); each runs in its own SAVEPOINT, so one failing job is rolled back alone. Answers
leave only after COMMIT returned: an acknowledged write is on disk. Ingest keys' rate limits (`take_key_token`)
touch no file: the writer keeps those buckets in memory for every worker and answers them at once. The writer
stops at EOF on stdin, after answering every job it read, and ignores SIGINT/SIGTERM so that a terminal's Ctrl-C
cannot cut a transaction short: the parent decides when it ends.

This file is run by path with `python -P` and imports only the standard library, so it starts in
milliseconds; the client side is writer_client.py.
"""

from __future__ import annotations

import json
import os
import pickle
import selectors
import signal
import socket
import sqlite3
import struct
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

HEADER = struct.Struct("!I")
READ_SIZE = 1 << 20

# Outbox states, as in base.State, and what enqueue did with an item, as in base.Stored (this file imports
# nothing from the package).
PENDING, IN_FLIGHT, DELIVERED, FAILED, HELD = 0, 1, 2, 3, 4
DUPLICATE, NEW, ORDER_DUPLICATE, HELD_CONFLICT = 0, 1, 2, 3
_OUTCOME_METRIC = ("duplicates", "accepted", "order_duplicates", "order_conflicts")  # by what enqueue did
# Order keys stored before orders had sources (migration m008): they dedup every source's reports, as then.
LEGACY_ORDER_SOURCE = "*"
_METRIC_FOR_STATE = {DELIVERED: "delivered", FAILED: "failed", PENDING: "retried"}

SERIES_BUCKET_S = 300
SERIES_RETENTION_S = 2 * 86400

_INSERT_ROW = """INSERT INTO outbox (id, destination, event, event_id, test_event_code, payload, next_attempt_at,
                 created_at, mapping_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_INSERT_HELD = """INSERT INTO outbox (id, destination, event, event_id, test_event_code, payload, next_attempt_at,
                  created_at, mapping_version, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 4)"""
_NOT_FORWARDED = """INSERT INTO not_forwarded VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (event, source, reason) DO UPDATE
                    SET count = count + excluded.count, last_at = excluded.last_at, event_id = excluded.event_id"""
_INSERT_INBOUND = "INSERT INTO inbound (received_at, source, event_id, event, document) VALUES (?, ?, ?, ?, ?)"
_BUMP = """INSERT INTO counters VALUES (?, ?, ?, ?)
           ON CONFLICT (scope, name, metric) DO UPDATE SET value = value + excluded.value"""
_BUMP_SERIES = """INSERT INTO series VALUES (?, ?, ?, ?, ?)
                  ON CONFLICT (bucket, scope, name, metric) DO UPDATE SET value = value + excluded.value"""
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
DESTINATIONS_WITH_ROWS = "SELECT name FROM counters WHERE scope = 'destination' AND metric = 'accepted'"
_KEYS_PER_STATEMENT = 500  # 5 parameters each: well under SQLite's 32,766 parameters per statement

CounterRow = tuple[str, str, str, int]  # scope, name, metric, value


def connect(path: str, synchronous: str, cache_mb: int = 2) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute("PRAGMA busy_timeout = 5000")
    connection.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")  # negative: KiB
    return connection


class Counters:
    """Ingest counters of the group being committed, by series bucket: one upsert per group, not per request."""

    def __init__(self) -> None:
        self._by_bucket: dict[float, Counter[tuple[str, str, str]]] = {}

    def add(self, now: float, rows: list[CounterRow]) -> None:
        counter = self._by_bucket.setdefault(now - now % SERIES_BUCKET_S, Counter())
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


def insert_new_keys(
    connection: sqlite3.Connection, keys: list[tuple[str, str, str]], now: float
) -> tuple[list[int], int]:
    """Insert dedup keys `(destination, event, event_id)`, a few statements for the lot; NEW (True) per new key,
    DUPLICATE (False) per key already there.

    The key of `keys[k]` records outbox row id `first_id + k` (the second value returned), the id its row gets if
    it is new: the ledger finds an event's rows through its keys, so the outbox needs no event_id index (one
    random B-tree insert per event fewer). This process is the only writer: max(id) cannot move under us.
    """
    (first_id,) = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM outbox").fetchone()
    new: set[tuple[str, str, str]] = set()
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[start : start + _KEYS_PER_STATEMENT]
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        parameters = [
            value
            for offset, (destination, event, event_id) in enumerate(chunk, start)
            for value in (event_id, destination, event, now, first_id + offset)
        ]
        new.update(
            connection.execute(
                f"""INSERT INTO dedup_keys (event_id, destination, event, first_seen, outbox_id) VALUES {values}
                    ON CONFLICT DO NOTHING RETURNING destination, event, event_id""",
                parameters,
            ).fetchall()
        )
    inserted: list[int] = []
    for key in keys:
        inserted.append(key in new)
        new.discard(key)  # a second copy in the same write is a duplicate of the first
    return inserted, first_id


def order_differences(
    first: tuple[str, float | None, str | None], report: tuple[str, float | None, str | None], *, legacy: bool = False
) -> str:
    """What differs between two reports of one order (TikTok event, value, currency); "" when nothing does.

    Shared with postgres.py. A legacy first report (stored before m008) is compared only where its content is known.
    """
    differences = []
    for label, before, now in zip(("event", "value", "currency"), first, report, strict=True):
        if legacy and before is None:
            continue
        if isinstance(before, float) and isinstance(now, float) and round(before, 6) == round(now, 6):
            continue
        if before != now:
            differences.append(f"{label} {before if before is not None else '(none)'} -> {now}")
    return ", ".join(differences)


OrderClaimRow = tuple[int, str, str, tuple[str, ...], float | None, str | None]  # base.OrderClaim as a tuple
_EARLIER_REPORTS = """SELECT source, event_id, event, value, currency FROM order_keys
                      WHERE destination = ? AND order_id = ? ORDER BY first_seen, source"""
_INSERT_ORDER_KEY = "INSERT OR IGNORE INTO order_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_MATCH = """INSERT INTO order_matches (at, destination, order_id, kind, status, differs, outbox_id, event_id,
                     source, event, value, currency, first_event_id, first_source, first_event, first_value,
                     first_currency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def settle_orders(
    connection: sqlite3.Connection,
    now: float,
    items: list[tuple[str, str, str, bytes, str | None, str]],
    stored: list[int],
    orders: list[OrderClaimRow],
    first_id: int,
) -> list[int]:
    """Check every new item that carries an order id against the earlier reports of that order (README "one
    purchase, one send"): a duplicate if a source it dedups with reported it first, held if that report differs."""
    for index, order_id, source, sources, value, currency in orders:
        if stored[index] != NEW:
            continue
        destination, event, event_id = items[index][:3]
        earlier = [
            row
            for row in connection.execute(_EARLIER_REPORTS, (destination, order_id))
            if row[0] in sources or row[0] == LEGACY_ORDER_SOURCE
        ]
        if not earlier or any(row[1] == event_id for row in earlier):  # the first report (or more of its items)
            connection.execute(
                _INSERT_ORDER_KEY, (destination, order_id, source, event_id, event, value, currency, now)
            )
            continue
        first_source, first_event_id, first_event, first_value, first_currency = earlier[0]
        differs = order_differences(
            (first_event, first_value, first_currency),
            (event, value, currency),
            legacy=first_source == LEGACY_ORDER_SOURCE,
        )
        stored[index] = HELD_CONFLICT if differs else ORDER_DUPLICATE
        if not differs:  # its dedup key stays (a resend is a duplicate) and leads to no outbox row
            connection.execute(
                "UPDATE dedup_keys SET outbox_id = NULL WHERE event_id = ? AND destination = ? AND event = ?",
                (event_id, destination, event),
            )
        connection.execute(
            _INSERT_MATCH,
            (
                now,
                destination,
                order_id,
                "conflict" if differs else "duplicate",
                "held" if differs else "dropped",
                differs,
                first_id + index if differs else None,
                event_id,
                source,
                event,
                value,
                currency,
                first_event_id,
                first_source,
                first_event,
                first_value,
                first_currency,
            ),
        )
    return stored


# Operations: each is `(connection, counters, *args)`; args and results are plain data (they cross a pipe).


def enqueue(
    connection: sqlite3.Connection,
    counters: Counters,
    now: float,
    items: list[tuple[str, str, str, bytes, str | None, str]],
    inbound: list[tuple[str, str, str, bytes]],
    request_counters: list[CounterRow],
    orders: list[OrderClaimRow],
    not_forwarded: Sequence[tuple[str, str, str, int, str]] = (),
) -> list[int]:
    """Store one ingest request: items are base.OutboxItem as tuples
    (destination, event, event_id, payload, test_event_code, mapping_version); per item, base.Stored's value."""
    stored, first_id = insert_new_keys(connection, [item[:3] for item in items], now)
    if orders:  # an event without an order id costs this test only
        stored = settle_orders(connection, now, items, stored, orders, first_id)
        connection.executemany(
            _INSERT_HELD,
            [
                (first_id + offset, *item[:3], item[4], item[3], now, now, item[5])
                for offset, (item, what) in enumerate(zip(items, stored, strict=True))
                if what == HELD_CONFLICT
            ],
        )
    connection.executemany(
        _INSERT_ROW,
        [
            (first_id + offset, destination, event, event_id, test_code, payload, now, now, mapping)
            for offset, ((destination, event, event_id, payload, test_code, mapping), what) in enumerate(
                zip(items, stored, strict=True)
            )
            if what == NEW
        ],
    )
    connection.executemany(_INSERT_INBOUND, [(now, *record) for record in inbound])
    if not_forwarded:  # base.NotForwarded: (event, source, reason, count, event_id)
        connection.executemany(_NOT_FORWARDED, [(*row[:4], now, now, row[4]) for row in not_forwarded])
    outcome = [("destination", item[0], _OUTCOME_METRIC[what], 1) for item, what in zip(items, stored, strict=True)]
    # Last, once nothing in this job can fail any more: the group flushes them just before COMMIT.
    counters.add(now, [*request_counters, *outcome])
    return stored


def claim_due(
    connection: sqlite3.Connection,
    counters: Counters,
    owner: str,
    destination: str,
    limit: int,
    now: float,
    lease_s: float,
) -> list[tuple[Any, ...]]:
    rows = connection.execute(
        _CLAIM,
        {"owner": owner, "destination": destination, "lease_until": now + lease_s, "now": now, "limit": limit},
    ).fetchall()
    return sorted(rows)


# One resolution: (ids, state, next_attempt_at, counts_as_attempt, outcomes); outcomes are every request that
# carried these rows, the last one deciding: (http_status, tiktok_code, message, request_id).
Resolution = tuple[list[int], int, float | None, bool, list[tuple[int | None, int | None, str, str | None]]]


def resolve(
    connection: sqlite3.Connection, counters: Counters, owner: str, resolutions: list[Resolution], now: float
) -> int:
    counted: Counter[tuple[str, str, str]] = Counter()
    attempts = []
    for ids, state, next_attempt_at, counts_as_attempt, outcomes in resolutions:
        http_status, code, message, request_id = outcomes[-1]
        rows = connection.execute(
            _RESOLVE,
            {
                "state": state,
                "next": next_attempt_at if state == PENDING else now,
                "http_status": http_status,
                "code": code,
                "message": message,
                "request_id": request_id,
                "ids": json.dumps(ids),
                "owner": owner,
                "uncounted": 0 if counts_as_attempt else 1,
            },
        ).fetchall()
        for outbox_id, destination, attempt in rows:
            attempts += [(outbox_id, attempt, now, *outcome) for outcome in outcomes]
            counted["destination", destination, _METRIC_FOR_STATE[state]] += 1
        if rows and state != DELIVERED:
            connection.execute(
                "INSERT OR REPLACE INTO last_errors VALUES (?, ?, ?, ?, ?, ?)",
                (rows[0][1], now, http_status, code, message, request_id),
            )
    connection.executemany(
        """INSERT INTO attempts (outbox_id, attempt, at, http_status, tiktok_code, message, request_id)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        attempts,
    )
    bump(connection, [(*key, value) for key, value in counted.items()], now)
    return sum(counted.values())


def take_token(
    connection: sqlite3.Connection, counters: Counters, destination: str, rate: float, burst: float, now: float
) -> float:
    (tokens,) = connection.execute(
        """INSERT INTO rate_buckets VALUES (?1, ?2, ?3) ON CONFLICT (destination) DO UPDATE
           SET tokens = min(?2, tokens + max(0, ?3 - updated_at) * ?4), updated_at = max(updated_at, ?3)
           RETURNING tokens""",
        (destination, burst, now, rate),
    ).fetchone()
    if tokens >= 1 - 1e-9:
        connection.execute("UPDATE rate_buckets SET tokens = max(0, tokens - 1) WHERE destination = ?", (destination,))
        return 0.0
    return float((1 - tokens) / rate)


class KeyBuckets:
    """Ingest keys' token buckets, in memory: the writer keeps them for every worker it serves, so a key's rate limit
    holds for the service as a whole without a disk write per request (a restart refills them, which is harmless)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when counted)

    def take(self, key_id: str, rate: float, burst: float, now: float) -> float:
        """0 when the request may go on (a token taken), else the seconds until a token will be there."""
        burst = max(1.0, burst)
        tokens, at = self._buckets.get(key_id, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        at = max(at, now)
        if tokens >= 1 - 1e-9:  # float rounding must not cost a whole extra wait
            self._buckets[key_id] = (max(0.0, tokens - 1), at)
            return 0.0
        self._buckets[key_id] = (tokens, at)
        return (1 - tokens) / rate


def release(connection: sqlite3.Connection, counters: Counters, owner: str, ids: list[int]) -> None:
    connection.execute(
        """UPDATE outbox SET state = 0, lease_owner = NULL, attempts = attempts - 1, next_attempt_at = 0
           WHERE id IN (SELECT value FROM json_each(?)) AND state = 1 AND lease_owner = ?""",
        (json.dumps(ids), owner),
    )


def purge(
    connection: sqlite3.Connection,
    counters: Counters,
    now: float,
    dedup_window_s: float,
    delivered_retention_s: float,
    inbound_retention_s: float,
    limit: int,
) -> int:
    keys = connection.execute(
        # A key whose event is still undelivered (pending, in flight or dead) stays: the ledger reaches the event's
        # row through it, and a resend of an event we still hold is a duplicate.
        """DELETE FROM dedup_keys WHERE (event_id, destination, event) IN (
             SELECT event_id, destination, event FROM dedup_keys AS d WHERE first_seen < ?
               AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.id = d.outbox_id AND o.event_id = d.event_id
                                                         AND o.state != 2)
             LIMIT ?)""",
        (now - dedup_window_s, limit),
    ).rowcount
    destinations = [row[0] for row in connection.execute(DESTINATIONS_WITH_ROWS)]
    ids = [
        row[0]
        for destination in destinations
        for row in connection.execute(
            """SELECT id FROM outbox WHERE destination = ? AND state = 2 AND next_attempt_at < ?
               ORDER BY next_attempt_at LIMIT ?""",
            (destination, now - delivered_retention_s, limit),
        )
    ]
    if ids:
        encoded = json.dumps(ids)
        connection.execute("DELETE FROM attempts WHERE outbox_id IN (SELECT value FROM json_each(?))", (encoded,))
        connection.execute("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))", (encoded,))
    inbound = connection.execute(
        # Rows arrive in time order: look at the oldest `limit` only, never the whole table.
        """DELETE FROM inbound WHERE id IN (
             SELECT id FROM (SELECT id, received_at FROM inbound ORDER BY id LIMIT ?) WHERE received_at < ?)""",
        (limit, now - inbound_retention_s),
    ).rowcount
    orders = purge_orders(connection, now, dedup_window_s, limit)
    buckets = connection.execute(
        """DELETE FROM series WHERE (bucket, scope, name, metric) IN (
             SELECT bucket, scope, name, metric FROM series WHERE bucket < ? LIMIT ?)""",
        (now - SERIES_RETENTION_S, limit),
    ).rowcount
    # A name not seen for as long as the status page's charts reach leaves the list (names come from clients).
    names = connection.execute(
        """DELETE FROM not_forwarded WHERE (event, source, reason) IN (
             SELECT event, source, reason FROM not_forwarded WHERE last_at < ? LIMIT ?)""",
        (now - SERIES_RETENTION_S, limit),
    ).rowcount
    return int(keys + len(ids) + inbound + orders + buckets + names)


def purge_orders(connection: sqlite3.Connection, now: float, dedup_window_s: float, limit: int) -> int:
    """Order keys leave with the dedup window; so do held reports, which TikTok would refuse as too old by then.
    Other matches stay one more window, so an expired conflict is still seen."""
    keys = connection.execute(
        """DELETE FROM order_keys WHERE (destination, order_id, source) IN (
             SELECT destination, order_id, source FROM order_keys WHERE first_seen < ? LIMIT ?)""",
        (now - dedup_window_s, limit),
    ).rowcount
    expired = connection.execute(
        "SELECT id, outbox_id FROM order_matches WHERE status = 'held' AND at < ? LIMIT ?",
        (now - dedup_window_s, limit),
    ).fetchall()
    for match_id, outbox_id in expired:
        connection.execute("DELETE FROM outbox WHERE id = ? AND state = ?", (outbox_id, HELD))
        connection.execute("UPDATE order_matches SET status = 'expired' WHERE id = ?", (match_id,))
    matches = connection.execute(
        """DELETE FROM order_matches WHERE id IN (
             SELECT id FROM order_matches WHERE status != 'held' AND at < ? LIMIT ?)""",
        (now - 2 * dedup_window_s, limit),
    ).rowcount
    return int(keys + len(expired) + matches)


def release_held(connection: sqlite3.Connection, counters: Counters, conflict_id: int, now: float) -> bool:
    """A held conflicting report becomes pending (same event_id, a fresh age), counted as `released`."""
    match = connection.execute(
        "SELECT outbox_id, destination FROM order_matches WHERE id = ? AND status = 'held'", (conflict_id,)
    ).fetchone()
    if match is None:
        return False
    released = connection.execute(
        "UPDATE outbox SET state = ?, next_attempt_at = ?, created_at = ? WHERE id = ? AND state = ?",
        (PENDING, now, now, match[0], HELD),
    ).rowcount
    connection.execute("UPDATE order_matches SET status = 'released' WHERE id = ?", (conflict_id,))
    bump(connection, [("destination", match[1], "released", released)], now)
    return bool(released)


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


OPERATIONS: dict[str, Callable[..., Any]] = {
    operation.__name__: operation
    for operation in (
        enqueue,
        claim_due,
        resolve,
        take_token,
        release,
        purge,
        pause,
        resume,
        replay_dead,
        release_held,
    )
}


def commit_group(
    connection: sqlite3.Connection, counters: Counters, jobs: list[tuple[int, str, tuple[Any, ...]]]
) -> list[tuple[int, tuple[str, str] | None, Any]]:
    """Run `jobs` in one transaction; the answers, or the same failure for every job if COMMIT failed."""
    answers: list[tuple[int, tuple[str, str] | None, Any]] = []
    try:
        connection.execute("BEGIN IMMEDIATE")
        for job_id, operation, args in jobs:
            connection.execute("SAVEPOINT job")
            try:
                answers.append((job_id, None, OPERATIONS[operation](connection, counters, *args)))
            except sqlite3.Error as error:
                connection.execute("ROLLBACK TO job")
                answers.append((job_id, ("store", f"{type(error).__name__}: {error}"), None))
            except Exception as error:  # noqa: BLE001 - a bug in one job is that job's caller's answer
                connection.execute("ROLLBACK TO job")
                answers.append((job_id, ("bug", f"{type(error).__name__}: {error}"), None))
            connection.execute("RELEASE job")
        counters.flush(connection)
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        # Disk full, I/O error, database locked: nothing in this group was stored.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        counters.forget()
        failure = ("store", f"the store could not commit: {error}")
        return [(job_id, failure, None) for job_id, _, _ in jobs]
    return answers


class Client:
    """One peer that sends jobs: the parent over stdin/stdout, or a worker process over the Unix socket."""

    def __init__(self, read: Callable[[], bytes], write: Callable[[bytes], None], fileno: int) -> None:
        self._read, self._write, self.fileno = read, write, fileno
        self._buffer = bytearray()
        self.closed = False

    def fill(self) -> list[tuple[int, str, tuple[Any, ...]]]:
        """Read what is there (the selector said something is); the jobs of every complete frame."""
        chunk = self._read()
        if not chunk:
            self.closed = True
        self._buffer += chunk
        jobs = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            jobs += pickle.loads(self._buffer[HEADER.size : end])
            del self._buffer[:end]
        return jobs

    def send(self, answers: list[tuple[int, tuple[str, str] | None, Any]]) -> None:
        data = pickle.dumps(answers, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._write(HEADER.pack(len(data)) + data)
        except OSError:
            self.closed = True  # the peer went away; its writes stand, it will not hear of them


def _pipe_client() -> Client:
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(stdout, view) :]

    return Client(lambda: os.read(stdin, READ_SIZE), write, stdin)


def _socket_client(sock: socket.socket) -> Client:
    return Client(lambda: sock.recv(READ_SIZE), sock.sendall, sock.fileno())


def take_key_token(
    connection: sqlite3.Connection, counters: Counters, key_id: str, rate: float, burst: float, now: float
) -> float:
    """An ingest key's rate limit: `serve` answers it from memory (`KeyBuckets`) at once, never in a transaction."""
    raise RuntimeError("take_key_token is answered from memory by serve()")


def _answer_key_token(
    key_buckets: KeyBuckets, job: tuple[int, str, tuple[Any, ...]]
) -> tuple[int, tuple[str, str] | None, Any]:
    job_id, _, args = job
    try:
        return job_id, None, key_buckets.take(*args)
    except Exception as error:  # noqa: BLE001 - a bug in one job is that job's caller's answer
        return job_id, ("bug", f"{type(error).__name__}: {error}"), None


def answer(
    group: list[tuple[Client, tuple[int, str, tuple[Any, ...]]]], answers: list[tuple[int, tuple[str, str] | None, Any]]
) -> None:
    """Send each client the answers to its jobs of `group`, in one frame."""
    by_client: dict[Client, list[tuple[int, tuple[str, str] | None, Any]]] = {}
    for (client, _), answered in zip(group, answers, strict=True):
        by_client.setdefault(client, []).append(answered)
    for client, answered_jobs in by_client.items():
        client.send(answered_jobs)


def serve(path: str, synchronous: str, max_group: int, listen: str | None) -> None:
    """Commit what the clients send until stdin closes; with `listen`, also take clients on that Unix socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Ingest inserts land on random pages of the event_id and dedup indexes: 32 MB of page cache instead of
    # SQLite's 2 MB keeps more of them between groups (measured: ~10% less writer CPU per event).
    connection = connect(path, synchronous, cache_mb=32)
    counters = Counters()
    key_buckets = KeyBuckets()
    selector = selectors.DefaultSelector()
    parent = _pipe_client()
    selector.register(parent.fileno, selectors.EVENT_READ, parent)
    sockets: dict[Client, socket.socket] = {}
    if listen is not None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(listen)
        listener.listen(64)
        selector.register(listener, selectors.EVENT_READ, None)
    while not parent.closed:
        jobs: list[tuple[Client, tuple[int, str, tuple[Any, ...]]]] = []
        timeout = None  # wait for the first job, then take every job already sent, without waiting
        while ready := selector.select(timeout):
            timeout = 0
            for key, _ in ready:
                client = key.data
                if client is None:
                    sock, _ = listener.accept()
                    client = _socket_client(sock)
                    sockets[client] = sock
                    selector.register(sock, selectors.EVENT_READ, client)
                    continue
                jobs += [(client, job) for job in client.fill()]
                if client.closed:
                    selector.unregister(client.fileno)
        # Rate limit checks touch no file: answered at once, not after the group's COMMIT.
        in_memory = [pair for pair in jobs if pair[1][1] == take_key_token.__name__]
        if in_memory:
            jobs = [pair for pair in jobs if pair[1][1] != take_key_token.__name__]
            answer(in_memory, [_answer_key_token(key_buckets, job) for _, job in in_memory])
        for start in range(0, len(jobs), max_group):
            group = jobs[start : start + max_group]
            answer(group, commit_group(connection, counters, [job for _, job in group]))
        for client in [client for client in sockets if client.closed]:
            sockets.pop(client).close()
    connection.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)

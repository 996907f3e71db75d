"""Ingest: store one request: its items, deduplicated by key and order, its inbound documents, what it sent nowhere."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence

from .activity import ActivityRow, record_activity
from .audiences import SignalRow, apply_signals
from .counters import CounterRow, Counters
from .orders import HELD_CONFLICT, NEW, OrderClaimRow, settle_orders

_OUTCOME_METRIC = ("duplicates", "accepted", "order_duplicates", "order_conflicts")  # by what enqueue did

_INSERT_ROW = """INSERT INTO outbox (id, destination, event, event_id, test_event_code, payload, next_attempt_at,
                 created_at, mapping_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_INSERT_HELD = """INSERT INTO outbox (id, destination, event, event_id, test_event_code, payload, next_attempt_at,
                  created_at, mapping_version, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 4)"""
_NOT_FORWARDED = """INSERT INTO not_forwarded VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (event, source, reason) DO UPDATE
                    SET count = count + excluded.count, last_at = excluded.last_at, event_id = excluded.event_id"""
_INSERT_INBOUND = "INSERT INTO inbound (received_at, source, event_id, event, document) VALUES (?, ?, ?, ?, ?)"
_KEYS_PER_STATEMENT = 500  # 5 parameters each: well under SQLite's 32,766 parameters per statement


# One ingest request as it crosses the pipe: (now, items, inbound, counters, orders, not_forwarded, signals,
# activity); items are base.OutboxItem as tuples (destination, event, event_id, payload, test_event_code,
# mapping_version).
Item = tuple[str, str, str, bytes, str | None, str]
IngestJob = tuple[
    float,
    list[Item],
    list[tuple[str, str, str, bytes]],
    list[CounterRow],
    list[OrderClaimRow],
    Sequence[tuple[str, str, str, int, str]],
    Sequence[SignalRow],
    Sequence[ActivityRow],
]


def insert_new_keys(connection: sqlite3.Connection, keys: list[tuple[str, str, str, float]]) -> tuple[list[int], int]:
    """Insert dedup keys `(destination, event, event_id, first_seen)`, a few statements for the lot; NEW (True) per
    new key, DUPLICATE (False) per key already there.

    The key of `keys[k]` records outbox row id `first_id + k` (the second value returned), the id its row gets if
    it is new: the ledger finds an event's rows through its keys, so the outbox needs no event_id index (one
    random B-tree insert per event fewer). This process is the only writer: max(id) cannot move under us.
    """
    (first_id,) = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM outbox").fetchone()
    # RETURNING the outbox id each new key records (first_id + its index): one int per key, not three strings. A
    # second copy of a key in the same write conflicts with the first, so only the first copy's id comes back.
    new: set[int] = set()
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[start : start + _KEYS_PER_STATEMENT]
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        parameters = [
            value
            for offset, (destination, event, event_id, now) in enumerate(chunk, start)
            for value in (event_id, destination, event, now, first_id + offset)
        ]
        new.update(
            outbox_id
            for (outbox_id,) in connection.execute(
                f"""INSERT INTO dedup_keys (event_id, destination, event, first_seen, outbox_id) VALUES {values}
                    ON CONFLICT DO NOTHING RETURNING outbox_id""",
                parameters,
            )
        )
    if len(new) == len(keys):  # the usual write: every key new
        return [True] * len(keys), first_id
    return [first_id + offset in new for offset in range(len(keys))], first_id


def enqueue(
    connection: sqlite3.Connection,
    counters: Counters,
    now: float,
    items: list[Item],
    inbound: list[tuple[str, str, str, bytes]],
    request_counters: list[CounterRow],
    orders: list[OrderClaimRow],
    not_forwarded: Sequence[tuple[str, str, str, int, str]] = (),
    audience_signals: Sequence[SignalRow] = (),
    activity: Sequence[ActivityRow] = (),
) -> list[int]:
    """Store one ingest request; per item, base.Stored's value."""
    job = (now, items, inbound, request_counters, orders, not_forwarded, audience_signals, activity)
    return enqueue_many(connection, counters, [job])[0]


def enqueue_many(connection: sqlite3.Connection, counters: Counters, jobs: list[IngestJob]) -> list[list[int]]:
    """Store several ingest requests with one statement per table, not one set per request (a group of 64 single
    events ran 384 statements); per request, per item, base.Stored's value.

    The result is the one storing them one after the other would give: dedup keys are inserted in request order (a
    key repeated in a later request is its duplicate), each request's orders are settled in turn, and every row
    keeps its own request's time. The caller runs it under one SAVEPOINT and, if it fails, stores the requests one
    by one so that only the one at fault fails.
    """
    keys = [(*item[:3], now) for now, items, *_ in jobs for item in items]
    stored, first_id = insert_new_keys(connection, keys)
    results: list[list[int]] = []
    rows: list[tuple[object, ...]] = []
    held: list[tuple[object, ...]] = []
    offset = 0
    for now, items, _, _, orders, *_ in jobs:
        job_stored = stored[offset : offset + len(items)]
        if orders:  # an event without an order id costs this test only
            job_stored = settle_orders(connection, now, items, job_stored, orders, offset + first_id)
        for index, ((destination, event, event_id, payload, test_code, mapping), what) in enumerate(
            zip(items, job_stored, strict=True), offset + first_id
        ):
            if what == NEW:
                rows.append((index, destination, event, event_id, test_code, payload, now, now, mapping))
            elif what == HELD_CONFLICT:
                held.append((index, destination, event, event_id, test_code, payload, now, now, mapping))
        results.append(job_stored)
        offset += len(items)
    connection.executemany(_INSERT_ROW, rows)
    if held:
        connection.executemany(_INSERT_HELD, held)
    connection.executemany(_INSERT_INBOUND, [(now, *record) for now, _, inbound, *_ in jobs for record in inbound])
    dropped = [(*row[:4], now, now, row[4]) for now, *_, not_forwarded, _, _ in jobs for row in not_forwarded]
    if dropped:  # base.NotForwarded: (event, source, reason, count, event_id)
        connection.executemany(_NOT_FORWARDED, dropped)
    for now, *_, audience_signals, activity in jobs:
        if audience_signals:  # only events an audience rule names
            apply_signals(connection, counters, now, list(audience_signals))
        if activity:  # only events a past-behaviour rule or a goal names
            record_activity(connection, counters, now, list(activity))
    # Last, once nothing in these jobs can fail any more: the group flushes them just before COMMIT. Outcomes are
    # summed per request (a few rows instead of one per item): Counter counts in C.
    for (now, items, _, request_counters, *_), job_stored in zip(jobs, results, strict=True):
        outcome = Counter(zip([item[0] for item in items], job_stored, strict=True))
        counters.add(
            now,
            [
                *request_counters,
                *[("destination", destination, _OUTCOME_METRIC[what], n) for (destination, what), n in outcome.items()],
            ],
        )
    return results

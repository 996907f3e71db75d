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
    # RETURNING the outbox id each new key records (first_id + its index): one int per key, not three strings. A
    # second copy of a key in the same write conflicts with the first, so only the first copy's id comes back.
    new: set[int] = set()
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[start : start + _KEYS_PER_STATEMENT]
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        parameters = [
            value
            for offset, (destination, event, event_id) in enumerate(chunk, start)
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
    items: list[tuple[str, str, str, bytes, str | None, str]],
    inbound: list[tuple[str, str, str, bytes]],
    request_counters: list[CounterRow],
    orders: list[OrderClaimRow],
    not_forwarded: Sequence[tuple[str, str, str, int, str]] = (),
    audience_signals: Sequence[SignalRow] = (),
    activity: Sequence[ActivityRow] = (),
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
    if audience_signals:  # only events an audience rule names
        apply_signals(connection, counters, now, list(audience_signals))
    if activity:  # only events a past-behaviour rule or a goal names
        record_activity(connection, counters, now, list(activity))
    if not_forwarded:  # base.NotForwarded: (event, source, reason, count, event_id)
        connection.executemany(_NOT_FORWARDED, [(*row[:4], now, now, row[4]) for row in not_forwarded])
    # Summed here (a few rows per request instead of one per item): Counter counts in C.
    outcome = Counter(zip([item[0] for item in items], stored, strict=True))
    # Last, once nothing in this job can fail any more: the group flushes them just before COMMIT.
    counters.add(
        now,
        [
            *request_counters,
            *[("destination", destination, _OUTCOME_METRIC[what], n) for (destination, what), n in outcome.items()],
        ],
    )
    return stored

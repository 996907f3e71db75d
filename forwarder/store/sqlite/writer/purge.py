"""Housekeeping: purge what outlived its retention, in bounded batches."""

from __future__ import annotations

import json
import sqlite3

from .counters import SERIES_RETENTION_S, Counters
from .orders import purge_orders

# Every destination that ever had an outbox row has an `accepted` counter.
DESTINATIONS_WITH_ROWS = "SELECT name FROM counters WHERE scope = 'destination' AND metric = 'accepted'"


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
    # An event's audience signals are applied once within the dedup window, as its outbox rows are deduplicated.
    seen = connection.execute(
        """DELETE FROM audience_seen WHERE (audience, event_id, action) IN (
             SELECT audience, event_id, action FROM audience_seen WHERE at < ? ORDER BY at LIMIT ?)""",
        (now - dedup_window_s, limit),
    ).rowcount
    return int(keys + len(ids) + inbound + orders + buckets + names + seen)

"""Order dedup (README "one purchase, one send"): a second report of an order is dropped, or held if it differs;
held reports are released by the operator, or expire with the dedup window."""

from __future__ import annotations

import sqlite3

from .counters import Counters, bump
from .db import HELD, PENDING

# What enqueue did with an item, as in base.Stored.
DUPLICATE, NEW, ORDER_DUPLICATE, HELD_CONFLICT = 0, 1, 2, 3
# Order keys stored before orders had sources (migration m008): they dedup every source's reports, as then.
LEGACY_ORDER_SOURCE = "*"


def order_differences(
    first: tuple[str, float | None, str | None], report: tuple[str, float | None, str | None], *, legacy: bool = False
) -> str:
    """What differs between two reports of one order (TikTok event, value, currency); "" when nothing does.

    Shared with postgres/orders.py. A legacy first report (stored before m008) is compared only where its content
    is known.
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

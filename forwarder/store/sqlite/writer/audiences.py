"""Audience membership: each event's signals applied to the ledger at ingest, the timers, and the sync claims.

The ledger holds per (audience, user) the desired `state` (pending: waiting for an `unless` window; in; out) and
the state TikTok has (`synced`); `dirty` (a generated column) marks rows to send. A sync claims rows with a lease,
and on TikTok's answer records the state it sent: a row that changed meanwhile stays dirty and is sent again, so the
latest state always wins and an add never overtakes a later delete (a claimed row cannot be claimed twice).
The same rules are `store/postgres/audiences.py`'s.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from typing import Any

from .counters import Counters, bump
from .holdout import held_out

# (audience, action, event_id, ids JSON, sync types JSON, at, due_at, expires_at, consent_held, holdout share, key)
SignalRow = tuple[str, str, str, str, str, float, float | None, float | None, str | None, float, str | None]
# (user_key, version, outcome: synced|retry|errored|release, sent state, next_attempt_at, problem, request_id)
SettleRow = tuple[str, int, str, str, float, str | None, str | None]

_MEMBER = """SELECT state, ids, due_at, expires_at, version, held FROM audience_members
             WHERE audience = ? AND user_key = ?"""
_UPSERT = """INSERT INTO audience_members (audience, user_key, state, ids, held, entered_at, due_at, expires_at,
                 changed_at, version)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
             ON CONFLICT (audience, user_key) DO UPDATE SET state = excluded.state, ids = excluded.ids,
                 held = excluded.held, entered_at = excluded.entered_at, due_at = excluded.due_at,
                 expires_at = excluded.expires_at, changed_at = excluded.changed_at, version = version + 1,
                 errored = NULL, attempts = 0, first_failure_at = NULL, next_attempt_at = 0,
                 forget = CASE WHEN excluded.state = 'out' THEN forget ELSE 0 END"""  # entering after a forget: new
_REFRESH = """UPDATE audience_members SET ids = ?, held = ?, expires_at = ? WHERE audience = ? AND user_key = ?"""
# TikTok's request ids of the last sends, for support: the newest five (a sent request without one adds nothing).
_REQUEST_IDS = """CASE WHEN ? IS NULL THEN request_ids ELSE json_insert(json_remove(request_ids,
                      CASE WHEN json_array_length(request_ids) >= 5 THEN '$[0]' ELSE '$[99]' END), '$[#]', ?) END"""


def user_key(ids: dict[str, str]) -> str:
    """A new user's key: from its first identifier, so replicas seeing the same new user agree on it."""
    id_type = min(ids)
    return hashlib.sha256(f"{id_type}:{ids[id_type]}".encode()).hexdigest()[:32]


def resolve_user(connection: sqlite3.Connection, ids: dict[str, str]) -> str:
    """Identifiers seen together on one event belong to one user: the user any of them already names, else new."""
    pairs = sorted(ids.items())
    where = " OR ".join(["(id_type = ? AND hash = ?)"] * len(pairs))
    known = dict(
        connection.execute(
            f"SELECT id_type, user_key FROM audience_identities WHERE {where}", [v for pair in pairs for v in pair]
        ).fetchall()
    )
    key = known[min(known)] if known else user_key(ids)
    new = [(*pair, key) for pair in pairs if pair[0] not in known]
    if new:  # a returning user with nothing new costs the lookup only
        connection.executemany("INSERT INTO audience_identities VALUES (?, ?, ?) ON CONFLICT DO NOTHING", new)
    return key


def apply_signals(connection: sqlite3.Connection, counters: Counters, now: float, signals: list[SignalRow]) -> None:
    """Apply ingest's audience signals (audiences/signals.py) in the ingest transaction; each event once."""
    rows = []
    for audience, action, event_id, ids_json, types_json, at, due_at, expires_at, consent_held, share, hkey in signals:
        seen = connection.execute(
            "INSERT INTO audience_seen VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            (audience, event_id, action, now),
        ).fetchone()
        ids: dict[str, str] = json.loads(ids_json)
        if seen is None:
            continue  # the same event again: its signal was applied the first time
        if not ids:
            rows.append(("audience", audience, "anonymous", 1 if action == "enter" else 0))
            continue
        key = resolve_user(connection, ids)
        control = held_out(audience, hkey, share, key)
        metric = _apply(connection, audience, key, action, ids, json.loads(types_json), at, due_at, expires_at,
                        consent_held, control, now)  # fmt: skip
        if metric:
            rows.append(("audience", audience, metric, 1))
    counters.add(now, rows)


def _apply(
    connection: sqlite3.Connection,
    audience: str,
    key: str,
    action: str,
    ids: dict[str, str],
    types: list[str],
    at: float,
    due_at: float | None,
    expires_at: float | None,
    consent_held: str | None,
    control: bool,
    now: float,
) -> str | None:
    """The one signal on the member's row; the counter it moves (entered, exited, cancelled), if any."""
    row = connection.execute(_MEMBER, (audience, key)).fetchone()
    state, old_ids = (row[0], json.loads(row[1])) if row else ("out", {})
    merged = {**old_ids, **ids}
    held = consent_held or (None if any(t in merged for t in types) else "no_identifier")
    if held is None and control:
        held = "control_group"  # the control group: recorded and counted like a member, never sent
    if action == "enter" and state == "out":
        new_state = "pending" if due_at is not None else "in"
        connection.execute(_UPSERT, (audience, key, new_state, json.dumps(merged), held, at, due_at, expires_at, now))
        return "entered" if new_state == "in" else "waiting"
    if row is None:
        return None  # a cancel or exit for someone who never entered
    old_due, old_expiry = row[2], row[3]
    leaves = (action == "exit" and state in ("in", "pending")) or (
        action == "cancel" and state in ("in", "pending") and old_due is not None and at <= old_due
    )
    if leaves:
        connection.execute(_UPSERT, (audience, key, "out", json.dumps(merged), held, None, None, None, now))
        return "exited" if action == "exit" else "cancelled"
    expiry = max(old_expiry or 0, expires_at or 0) or None
    if merged != old_ids or held != row[5] or expiry != old_expiry:  # a member seen again as they were: no write
        connection.execute(_REFRESH, (json.dumps(merged), held, expiry, audience, key))
    return None


def audience_timers(connection: sqlite3.Connection, counters: Counters, now: float) -> int:
    """Members whose `unless` window passed enter; members past their TTL leave. How many rows changed."""
    entered = connection.execute(
        """UPDATE audience_members SET state = 'in', version = version + 1, changed_at = ?, errored = NULL,
                  attempts = 0, first_failure_at = NULL, next_attempt_at = 0
           WHERE state = 'pending' AND due_at <= ? RETURNING audience""",
        (now, now),
    ).fetchall()
    expired = connection.execute(
        """UPDATE audience_members SET state = 'out', version = version + 1, changed_at = ?, errored = NULL,
                  attempts = 0, first_failure_at = NULL, next_attempt_at = 0, due_at = NULL, expires_at = NULL
           WHERE state = 'in' AND expires_at <= ? RETURNING audience""",
        (now, now),
    ).fetchall()
    rows = [("audience", a, "entered", 1) for (a,) in entered] + [("audience", a, "expired", 1) for (a,) in expired]
    counters.add(now, rows)  # summed per name and committed with the group
    return len(entered) + len(expired)


_CLAIM = """UPDATE audience_members SET lease_owner = ?, lease_until = ?
            WHERE rowid IN (SELECT rowid FROM audience_members
                            WHERE audience = ? AND dirty AND next_attempt_at <= ?
                              AND (lease_until IS NULL OR lease_until < ?) {only}
                            ORDER BY changed_at LIMIT ?)
            RETURNING user_key, state, ids, version, first_failure_at"""
# Slots a capped audience uses: members TikTok holds (until their delete is acknowledged) and adds being sent.
_OCCUPIED = """SELECT count(*) FROM audience_members WHERE audience = ?
                 AND (synced = 'in' OR (state = 'in' AND dirty AND lease_until >= ?))"""


def claim_members(
    connection: sqlite3.Connection,
    counters: Counters,
    owner: str,
    audience: str,
    limit: int,
    now: float,
    lease: float,
    max_members: int | None = None,
) -> list[tuple[Any, ...]]:
    """Up to `limit` rows to send, oldest change first, leased to `owner`:
    (user_key, state, ids, version, first_failure_at). With `max_members`, adds only while TikTok would hold no
    more than that many: the first to enter are sent first, the rest wait for a member to leave."""
    if max_members is None:
        return connection.execute(_CLAIM.format(only=""), (owner, now + lease, audience, now, now, limit)).fetchall()
    deletes = connection.execute(
        _CLAIM.format(only="AND state = 'out'"), (owner, now + lease, audience, now, now, limit)
    ).fetchall()
    (occupied,) = connection.execute(_OCCUPIED, (audience, now)).fetchone()
    room = min(limit - len(deletes), max_members - occupied)
    if room <= 0:
        return deletes
    adds = connection.execute(_CLAIM.format(only="AND state = 'in'"), (owner, now + lease, audience, now, now, room))
    return deletes + adds.fetchall()


def settle_members(
    connection: sqlite3.Connection, counters: Counters, owner: str, audience: str, rows: list[SettleRow], now: float
) -> None:
    """TikTok's answer for claimed rows; rows whose lease another replica took since are left to it."""
    day = utc_day(now)
    sent = {"in": 0, "out": 0}
    errored = 0  # given up on by this owner (a fenced answer counts nothing)
    for key, version, outcome, sent_state, next_at, problem, request_id in rows:
        mine = "audience = ? AND user_key = ? AND lease_owner = ?"
        if outcome == "synced":
            updated = connection.execute(
                f"""UPDATE audience_members SET synced = ?, synced_version = ?, lease_owner = NULL, lease_until = NULL,
                           attempts = 0, first_failure_at = NULL, problem = NULL, synced_at = ?,
                           first_synced_at = coalesce(first_synced_at, CASE WHEN ? = 'in' THEN ? END),
                           request_ids = {_REQUEST_IDS}
                    WHERE {mine} RETURNING forget, state""",
                (sent_state, version, now, sent_state, now, request_id, request_id, audience, key, owner),
            ).fetchone()
            if updated:
                sent[sent_state] += 1
                if updated[0] and sent_state == "out":
                    connection.execute(
                        "DELETE FROM audience_members WHERE audience = ? AND user_key = ?", (audience, key)
                    )
        elif outcome in ("retry", "errored"):
            failed = connection.execute(
                f"""UPDATE audience_members SET lease_owner = NULL, lease_until = NULL, attempts = attempts + 1,
                           next_attempt_at = ?, first_failure_at = coalesce(first_failure_at, ?), problem = ?,
                           errored = CASE WHEN ? = 'errored' THEN coalesce(?, 'errored') END,
                           request_ids = {_REQUEST_IDS}
                    WHERE {mine}""",
                (next_at, now, problem, outcome, problem, request_id, request_id, audience, key, owner),
            )
            errored += failed.rowcount if outcome == "errored" else 0
        else:  # release: paused, nothing was sent
            connection.execute(f"UPDATE audience_members SET lease_owner = NULL, lease_until = NULL WHERE {mine}",
                               (audience, key, owner))  # fmt: skip
    bump(
        connection,
        [("audience", audience, "sent", sent["in"] + sent["out"]), ("audience", audience, "errored", errored)],
        now,
    )
    connection.execute(
        """INSERT INTO audience_daily VALUES (?, ?, ?, ?) ON CONFLICT (audience, day)
           DO UPDATE SET adds = adds + excluded.adds, deletes = deletes + excluded.deletes""",
        (audience, day, sent["in"], sent["out"]),
    )


def forget_users(connection: sqlite3.Connection, counters: Counters, ids: list[tuple[str, str]], now: float) -> int:
    """Erase what we hold of the users these identifiers name; members TikTok has are removed there first (their
    rows leave once the delete is acknowledged). How many users were found."""
    if not ids:
        return 0
    where = " OR ".join(["(id_type = ? AND hash = ?)"] * len(ids))
    keys = [k for (k,) in connection.execute(
        f"SELECT DISTINCT user_key FROM audience_identities WHERE {where}", [v for p in ids for v in p]
    ).fetchall()]  # fmt: skip
    for key in keys:
        connection.execute("DELETE FROM audience_identities WHERE user_key = ?", (key,))
        connection.execute(
            "DELETE FROM audience_members WHERE user_key = ? AND synced = 'out' AND lease_owner IS NULL", (key,)
        )
        # A row leased is being sent: an add may reach TikTok after this, so it counts as held there (a delete
        # follows whatever the sender settles; one too many deletes costs nothing).
        connection.execute(
            """UPDATE audience_members SET state = 'out', forget = 1, version = version + 1, changed_at = ?,
                      synced = CASE WHEN lease_owner IS NULL THEN synced ELSE 'in' END, errored = NULL,
                      attempts = 0, first_failure_at = NULL, problem = NULL, next_attempt_at = 0, held = NULL
               WHERE user_key = ?""",
            (now, key),
        )
    return len(keys)


def save_audience(connection: sqlite3.Connection, counters: Counters, name: str, fields: dict[str, Any]) -> None:
    """Upsert the audience's state row (its TikTok id, status, problem, sizes): only the fields given change."""
    columns = ", ".join(fields)
    updates = ", ".join(f"{c} = excluded.{c}" for c in fields)
    connection.execute(
        f"INSERT INTO audiences (name, {columns}) VALUES (?, {', '.join('?' * len(fields))}) "
        f"ON CONFLICT (name) DO UPDATE SET {updates}",
        (name, *fields.values()),
    )


def begin_creation(
    connection: sqlite3.Connection, counters: Counters, name: str, owner: str, now: float, lease: float
) -> bool:
    """Whether `owner` may create the audience now: no TikTok id yet and no other replica creating it."""
    connection.execute("INSERT INTO audiences (name) VALUES (?) ON CONFLICT DO NOTHING", (name,))
    return (
        connection.execute(
            """UPDATE audiences SET creating_owner = ?, creating_until = ?
               WHERE name = ? AND tiktok_id IS NULL AND (creating_until IS NULL OR creating_until < ? OR
                     creating_owner = ?) RETURNING 1""",
            (owner, now + lease, name, now, owner),
        ).fetchone()
        is not None
    )


def reset_synced(connection: sqlite3.Connection, counters: Counters, audience: str, now: float) -> None:
    """A new TikTok audience holds nobody: every member is to be sent again, and the forgotten need no delete."""
    connection.execute("DELETE FROM audience_members WHERE audience = ? AND forget", (audience,))
    connection.execute(
        """UPDATE audience_members SET synced = 'out', synced_version = 0, errored = NULL, attempts = 0,
                  next_attempt_at = 0, first_failure_at = NULL WHERE audience = ?""",
        (audience,),
    )


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))

"""Audience signals on PostgreSQL, applied in the ingest transaction: the rules of SQLite's
`store/sqlite/writer/audiences.py`, made safe for replicas storing events of one user at the same moment."""

from __future__ import annotations

import json
from collections import Counter

import asyncpg

from ..audiences import AudienceSignal
from ..base import CounterKey
from ..sqlite.writer.audiences import user_key
from ..sqlite.writer.holdout import held_out

_MEMBER_LOCK = 1511  # advisory lock class: one member's row, (this, hashtext(audience:user_key))
_IDENTITY_LOCK = 1513  # advisory lock class: one hashed identifier, (this, hashtext(type:hash))
_SEEN = "INSERT INTO audience_seen VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1"
_FIND_USER = """SELECT user_key FROM audience_identities JOIN unnest($1::text[], $2::text[]) AS p(id_type, hash)
                  USING (id_type, hash) ORDER BY id_type LIMIT 1"""
_NAME_USER = """INSERT INTO audience_identities SELECT id_type, hash, $3 FROM unnest($1::text[], $2::text[])
                  AS p(id_type, hash) ON CONFLICT DO NOTHING"""
_MEMBER = "SELECT state, ids, due_at, expires_at FROM audience_members WHERE audience = $1 AND user_key = $2"
_UPSERT = """INSERT INTO audience_members (audience, user_key, state, ids, held, entered_at, due_at, expires_at,
                 changed_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)
             ON CONFLICT (audience, user_key) DO UPDATE SET state = excluded.state, ids = excluded.ids,
                 held = excluded.held, entered_at = excluded.entered_at, due_at = excluded.due_at,
                 expires_at = excluded.expires_at, changed_at = excluded.changed_at,
                 version = audience_members.version + 1, errored = NULL, attempts = 0, first_failure_at = NULL,
                 next_attempt_at = 0, forget = excluded.state = 'out' AND audience_members.forget"""
_REFRESH = "UPDATE audience_members SET ids = $1, held = $2, expires_at = $3 WHERE audience = $4 AND user_key = $5"


async def apply_signals(
    connection: asyncpg.Connection, signals: list[AudienceSignal], now: float
) -> Counter[CounterKey]:
    """Apply ingest's audience signals in its transaction, each event once however many replicas receive it;
    the audience counters they move."""
    counters: Counter[CounterKey] = Counter()
    # Replicas storing signals of the same users at once must not deadlock: every identity a request touches is
    # locked first, all at once and in one global order (a second request for any of them waits for the first).
    identities = sorted({f"{t}:{h}" for signal in signals for t, h in json.loads(signal.ids).items()})
    if identities:
        await connection.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(i)) FROM unnest($2::text[]) AS i ORDER BY i",
            _IDENTITY_LOCK,
            identities,
        )
    for signal in signals:  # in the request's order: a user's enter and exit in one batch apply as sent
        if await connection.fetchval(_SEEN, signal.audience, signal.event_id, signal.action, now) is None:
            continue  # the same event again (here, or on another replica that committed it first)
        ids: dict[str, str] = json.loads(signal.ids)
        if not ids:
            if signal.action == "enter":
                counters["audience", signal.audience, "anonymous"] += 1
            continue
        key = await resolve_user(connection, ids)
        metric = await _apply(connection, signal, key, ids, now)
        if metric:
            counters["audience", signal.audience, metric] += 1
    return counters


async def resolve_user(connection: asyncpg.Connection, ids: dict[str, str]) -> str:
    """Identifiers seen together on one event belong to one user: the user any of them already names, else new.
    Looked up again after naming them: a replica that named one of them first, at the same moment, wins."""
    pairs = sorted(ids.items())
    id_types, hashes = [t for t, _ in pairs], [h for _, h in pairs]
    found = await connection.fetchval(_FIND_USER, id_types, hashes)
    await connection.execute(_NAME_USER, id_types, hashes, found or user_key(ids))
    key: str = await connection.fetchval(_FIND_USER, id_types, hashes)
    return key


async def _apply(
    connection: asyncpg.Connection, signal: AudienceSignal, key: str, ids: dict[str, str], now: float
) -> str | None:
    """The one signal on the member's row; the counter it moves (entered, waiting, exited, cancelled), if any.
    The member is locked first, so two replicas' signals for one user apply one after the other, not over each
    other (a row lock cannot do it: the row may not exist yet)."""
    await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _MEMBER_LOCK, f"{signal.audience}:{key}")
    row = await connection.fetchrow(_MEMBER, signal.audience, key)
    state, old_ids = (row["state"], json.loads(row["ids"])) if row else ("out", {})
    merged = {**old_ids, **ids}
    types: list[str] = json.loads(signal.sync_types)
    held = signal.consent_held or (None if any(t in merged for t in types) else "no_identifier")
    if held is None and held_out(signal.audience, signal.holdout_key, signal.holdout_share, key):
        held = "control_group"  # the control group: recorded and counted like a member, never sent
    if signal.action == "enter" and state == "out":
        new_state = "pending" if signal.due_at is not None else "in"
        await connection.execute(_UPSERT, signal.audience, key, new_state, json.dumps(merged), held, signal.at,
                                 signal.due_at, signal.expires_at, now)  # fmt: skip
        return "entered" if new_state == "in" else "waiting"
    if row is None:
        return None  # a cancel or exit for someone who never entered
    leaves = (signal.action == "exit" and state in ("in", "pending")) or (
        signal.action == "cancel"
        and state in ("in", "pending")
        and row["due_at"] is not None
        and signal.at <= row["due_at"]
    )
    if leaves:
        await connection.execute(_UPSERT, signal.audience, key, "out", json.dumps(merged), held, None, None, None, now)
        return "exited" if signal.action == "exit" else "cancelled"
    expiry = max(row["expires_at"] or 0, signal.expires_at or 0) or None
    await connection.execute(_REFRESH, json.dumps(merged), held, expiry, signal.audience, key)
    return None

"""The audience ledger on PostgreSQL, shared by every replica: the same rows and rules as SQLite's
(`store/sqlite/writer/audiences.py` describes them). Signals are applied by ingest (`audience_signals.py`).

Replicas: claims take rows with `FOR UPDATE SKIP LOCKED` plus a lease, so two replicas never send one member at
once (and an add never overtakes a later delete); the timers skip rows another transaction holds (the next run
takes them); `begin_creation` is one conditional UPDATE, so one replica at a time may create an audience.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import asyncpg

from ..audience_views import audience_figures, member_view
from ..audiences import MemberClaim, PastRun, Settlement
from ..base import CounterKey
from ..sqlite.writer.audiences import utc_day
from . import activity
from .counters import bump

if TYPE_CHECKING:
    from .store import PostgresStore

_STARTED_OVER = "errored = NULL, attempts = 0, first_failure_at = NULL, next_attempt_at = 0"
_TIMERS = f"""UPDATE audience_members SET state = $2, version = version + 1, changed_at = $1, {_STARTED_OVER}{{extra}}
             WHERE (audience, user_key) IN (SELECT audience, user_key FROM audience_members
                                            WHERE state = $3 AND {{column}} <= $1 FOR UPDATE SKIP LOCKED)
             RETURNING audience"""
_CLAIM = """WITH picked AS (
              SELECT audience, user_key FROM audience_members
              WHERE audience = $1 AND dirty AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                AND ($6::text IS NULL OR state = $6)
              ORDER BY changed_at LIMIT $3 FOR UPDATE SKIP LOCKED)
            UPDATE audience_members AS m SET lease_owner = $4, lease_until = $5 FROM picked
            WHERE m.audience = picked.audience AND m.user_key = picked.user_key
            RETURNING m.user_key, m.state, m.ids, m.version, m.first_failure_at, m.changed_at"""
# TikTok's request ids of the last sends, for support: the newest five (a request without one adds nothing).
_REQUEST_IDS = """CASE WHEN $4::text IS NULL THEN request_ids ELSE (
                    SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(request_ids || jsonb_build_array($4::text))
                      WITH ORDINALITY AS t(e, n) WHERE n > jsonb_array_length(request_ids) - 4) END"""
_MINE = "audience = $1 AND user_key = $2 AND lease_owner = $3"
_CAP_LOCK = 1514  # advisory lock class: claims of one capped audience, (this, hashtext(audience))
# Slots a capped audience uses: members TikTok holds (until their delete is acknowledged) and adds being sent.
_OCCUPIED = """SELECT count(*) FROM audience_members WHERE audience = $1
                 AND (synced = 'in' OR (state = 'in' AND dirty AND lease_until >= $2))"""
_SYNCED = f"""UPDATE audience_members SET synced = $5, synced_version = $6, lease_owner = NULL, lease_until = NULL,
                     attempts = 0, first_failure_at = NULL, problem = NULL, synced_at = $7,
                     request_ids = {_REQUEST_IDS},
                     first_synced_at = coalesce(
                       first_synced_at, CASE WHEN $5::text = 'in' THEN $7::double precision END)
              WHERE {_MINE} RETURNING forget"""
_FAILED = f"""UPDATE audience_members SET lease_owner = NULL, lease_until = NULL, attempts = attempts + 1,
                     next_attempt_at = $5, first_failure_at = coalesce(first_failure_at, $6), problem = $7::text,
                     errored = CASE WHEN $8 = 'errored' THEN coalesce($7::text, 'errored') END,
                     request_ids = {_REQUEST_IDS}
              WHERE {_MINE} RETURNING 1"""
_RELEASE = f"UPDATE audience_members SET lease_owner = NULL, lease_until = NULL WHERE {_MINE}"
_USERS = """SELECT DISTINCT user_key FROM audience_identities JOIN unnest($1::text[], $2::text[])
              AS p(id_type, hash) USING (id_type, hash)"""
_AUDIENCE_COLUMNS = {
    "tiktok_id", "advertiser_id", "status", "problem", "created_at", "ready_at", "creating_owner", "creating_until",
    "size_now", "size_first", "size_at", "size_note", "paused_until", "past_run_at", "past_run",
}  # fmt: skip


class PostgresAudienceLedger:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def timers(self, now: float) -> int:
        async with self._store._connection() as connection:
            entered = await connection.fetch(_TIMERS.format(extra="", column="due_at"), now, "in", "pending")
            expired = await connection.fetch(
                _TIMERS.format(extra=", due_at = NULL, expires_at = NULL", column="expires_at"), now, "out", "in"
            )
            counters: Counter[CounterKey] = Counter()
            for metric, rows in (("entered", entered), ("expired", expired)):
                for row in rows:
                    counters["audience", row["audience"], metric] += 1
            await bump(connection, counters, now)
        return len(entered) + len(expired)

    async def claim(
        self, owner: str, audience: str, limit: int, now: float, lease_s: float, max_members: int | None = None
    ) -> list[MemberClaim]:
        async with self._store._connection() as connection:
            if max_members is None:
                rows = await connection.fetch(_CLAIM, audience, now, limit, owner, now + lease_s, None)
            else:  # one claimer of a capped audience at a time: the count and the claim must agree
                await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _CAP_LOCK, audience)
                rows = await connection.fetch(_CLAIM, audience, now, limit, owner, now + lease_s, "out")
                occupied = await connection.fetchval(_OCCUPIED, audience, now)
                room = min(limit - len(rows), max_members - occupied)
                if room > 0:
                    rows += await connection.fetch(_CLAIM, audience, now, room, owner, now + lease_s, "in")
        rows = sorted(rows, key=lambda row: (row["changed_at"], row["user_key"]))  # oldest change first
        return [
            MemberClaim(r["user_key"], r["state"], json.loads(r["ids"]), r["version"], r["first_failure_at"])
            for r in rows
        ]

    async def settle(self, owner: str, audience: str, settlements: list[Settlement], now: float) -> None:
        """TikTok's answer for claimed rows; rows whose lease another replica took since are left to it."""
        counters: Counter[CounterKey] = Counter()
        sent = {"in": 0, "out": 0}
        async with self._store._connection() as connection:
            for s in sorted(settlements, key=lambda s: s.user_key):  # sorted: a stable lock order
                mine = (audience, s.user_key, owner)
                if s.outcome == "synced":
                    row = await connection.fetchrow(_SYNCED, *mine, s.request_id, s.sent_state, s.version, now)
                    if row is None:
                        continue
                    sent[s.sent_state] += 1
                    if row["forget"] and s.sent_state == "out":  # TikTok let them go: nothing of them stays
                        await connection.execute(
                            "DELETE FROM audience_members WHERE audience = $1 AND user_key = $2", audience, s.user_key
                        )
                elif s.outcome in ("retry", "errored"):
                    failed = await connection.fetchval(
                        _FAILED, *mine, s.request_id, s.next_attempt_at, now, s.problem, s.outcome
                    )
                    counters["audience", audience, "errored"] += bool(failed and s.outcome == "errored")
                else:  # release: paused, nothing was sent
                    await connection.execute(_RELEASE, *mine)
            counters["audience", audience, "sent"] += sent["in"] + sent["out"]
            await bump(connection, counters, now)
            await connection.execute(
                """INSERT INTO audience_daily VALUES ($1, $2, $3, $4) ON CONFLICT (audience, day)
                   DO UPDATE SET adds = audience_daily.adds + excluded.adds,
                                 deletes = audience_daily.deletes + excluded.deletes""",
                audience,
                utc_day(now),
                sent["in"],
                sent["out"],
            )

    async def forget(self, ids: list[tuple[str, str]], now: float) -> int:
        """Erase what we hold of the users these identifiers name; members TikTok has (or may have: a row being
        sent) are deleted there first, their rows leaving once the delete is acknowledged."""
        if not ids:
            return 0
        async with self._store._connection() as connection:
            keys = [k for (k,) in await connection.fetch(_USERS, [t for t, _ in ids], [h for _, h in ids])]
            await connection.execute("DELETE FROM audience_identities WHERE user_key = ANY($1)", keys)
            await connection.execute(
                "DELETE FROM audience_members WHERE user_key = ANY($1) AND synced = 'out' AND lease_owner IS NULL",
                keys,
            )
            await connection.execute(
                f"""UPDATE audience_members SET state = 'out', forget = true, version = version + 1, changed_at = $2,
                           synced = CASE WHEN lease_owner IS NULL THEN synced ELSE 'in' END, problem = NULL,
                           held = NULL, {_STARTED_OVER}
                    WHERE user_key = ANY($1)""",
                keys,
                now,
            )
        return len(keys)

    async def save(self, name: str, fields: dict[str, Any]) -> None:
        """Upsert the audience's state row: only the fields given change."""
        unknown = set(fields) - _AUDIENCE_COLUMNS
        if unknown:
            raise ValueError(f"not audience columns: {sorted(unknown)}")
        columns = list(fields)
        values = ", ".join(f"${n}" for n in range(2, len(columns) + 2))
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
        async with self._store._connection() as connection:
            await connection.execute(
                f"INSERT INTO audiences (name, {', '.join(columns)}) VALUES ($1, {values}) "
                f"ON CONFLICT (name) DO UPDATE SET {updates}",
                name,
                *fields.values(),
            )

    async def begin_creation(self, name: str, owner: str, now: float, lease_s: float) -> bool:
        """One conditional UPDATE: a replica racing this one waits for its commit, then finds the lease taken."""
        async with self._store._connection() as connection:
            await connection.execute("INSERT INTO audiences (name) VALUES ($1) ON CONFLICT DO NOTHING", name)
            allowed = await connection.fetchval(
                """UPDATE audiences SET creating_owner = $2, creating_until = $3
                   WHERE name = $1 AND tiktok_id IS NULL
                     AND (creating_until IS NULL OR creating_until < $4 OR creating_owner = $2)
                   RETURNING true""",
                name,
                owner,
                now + lease_s,
                now,
            )
        return allowed is not None

    async def reset_synced(self, name: str, now: float) -> None:
        """A new TikTok audience holds nobody: every member is to be sent again, and the forgotten need no delete."""
        async with self._store._connection() as connection:
            await connection.execute("DELETE FROM audience_members WHERE audience = $1 AND forget", name)
            await connection.execute(
                f"UPDATE audience_members SET synced = 'out', synced_version = 0, {_STARTED_OVER} WHERE audience = $1",
                name,
            )

    async def states(self) -> dict[str, dict[str, Any]]:
        async with self._store._connection(transaction=False) as connection:
            return {row["name"]: dict(row) for row in await connection.fetch("SELECT * FROM audiences")}

    async def figures(self) -> dict[str, dict[str, Any]]:
        async with self._store._connection(snapshot=True) as connection:
            return await _figures(connection)

    async def members_of(self, ids: list[tuple[str, str]]) -> list[dict[str, Any]]:
        if not ids:
            return []
        async with self._store._connection(snapshot=True) as connection:
            keys = [k for (k,) in await connection.fetch(_USERS, [t for t, _ in ids], [h for _, h in ids])]
            rows = await connection.fetch(
                "SELECT * FROM audience_members WHERE user_key = ANY($1) ORDER BY audience, user_key", keys
            )
        return [member_view(dict(row)) for row in rows]

    async def qualifying(
        self, did: str, since_day: str, at_least: int, value_at_least: float | None, not_did: str | None
    ) -> list[tuple[str, float, str | None, str]]:
        async with self._store._connection(snapshot=True) as connection:
            return await activity.qualifying(connection, did, since_day, at_least, value_at_least, not_did)

    async def apply_run(self, run: PastRun, now: float) -> dict[str, Any] | None:
        async with self._store._connection() as connection:
            return await activity.apply_run(connection, run, now)

    async def outcomes(
        self, audience: str, goal: str
    ) -> tuple[list[tuple[str, str, float]], list[tuple[str, float, float]]]:
        async with self._store._connection(snapshot=True) as connection:
            return await activity.outcomes(connection, audience, goal)

    async def purge_activity(self, before: float) -> int:
        async with self._store._connection() as connection:
            return await activity.purge_activity(connection, before)


async def _figures(connection: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    members = await connection.fetch(
        """SELECT audience, state, synced, held, errored IS NOT NULL, dirty, count(*) FROM audience_members
           GROUP BY 1, 2, 3, 4, 5, 6"""
    )
    counters = await connection.fetch("SELECT name, metric, value FROM counters WHERE scope = 'audience'")
    daily = await connection.fetch(
        "SELECT audience, day, adds, deletes FROM audience_daily ORDER BY day DESC, audience LIMIT 1000"
    )
    return audience_figures(members, counters, daily)

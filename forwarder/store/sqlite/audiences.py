"""The audience ledger on SQLite: writes go to the writer process (`writer/audiences.py`), reads on the store's
own connection."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..audience_views import audience_figures, member_view
from ..audiences import MemberClaim, PastRun, Settlement
from .writer import operations as writer

if TYPE_CHECKING:
    from .store import SQLiteStore

T = TypeVar("T")


class SQLiteAudienceLedger:
    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def timers(self, now: float) -> int:
        changed: int = await self._store._write(writer.audience_timers, now)
        return changed

    async def claim(
        self, owner: str, audience: str, limit: int, now: float, lease_s: float, max_members: int | None = None
    ) -> list[MemberClaim]:
        rows = await self._store._write(writer.claim_members, owner, audience, limit, now, lease_s, max_members)
        return [MemberClaim(key, state, json.loads(ids), version, failed) for key, state, ids, version, failed in rows]

    async def settle(self, owner: str, audience: str, settlements: list[Settlement], now: float) -> None:
        rows = [
            (s.user_key, s.version, s.outcome, s.sent_state, s.next_attempt_at, s.problem, s.request_id)
            for s in settlements
        ]
        await self._store._write(writer.settle_members, owner, audience, rows, now)

    async def forget(self, ids: list[tuple[str, str]], now: float) -> int:
        found: int = await self._store._write(writer.forget_users, ids, now)
        return found

    async def save(self, name: str, fields: dict[str, Any]) -> None:
        await self._store._write(writer.save_audience, name, fields)

    async def begin_creation(self, name: str, owner: str, now: float, lease_s: float) -> bool:
        allowed: bool = await self._store._write(writer.begin_creation, name, owner, now, lease_s)
        return allowed

    async def reset_synced(self, name: str, now: float) -> None:
        await self._store._write(writer.reset_synced, name, now)

    async def states(self) -> dict[str, dict[str, Any]]:
        return await self._read(_states)

    async def figures(self) -> dict[str, dict[str, Any]]:
        return await self._read(_figures)

    async def members_of(self, ids: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return await self._read(lambda c: _members_of(c, ids))

    async def qualifying(
        self, did: str, since_day: str, at_least: int, value_at_least: float | None, not_did: str | None
    ) -> list[tuple[str, float, str | None, str]]:
        return await self._read(lambda c: _qualifying(c, did, since_day, at_least, value_at_least, not_did))

    async def apply_run(self, run: PastRun, now: float) -> dict[str, int] | None:
        row = (run.audience, run.last_run, run.run_at, run.users, run.sync_types)
        summary: dict[str, int] | None = await self._store._write(writer.apply_run, row, now)
        return summary

    async def outcomes(
        self, audience: str, goal: str
    ) -> tuple[list[tuple[str, str, float]], list[tuple[str, float, float]]]:
        return await self._read(lambda c: (_groups(c, audience), _conversions(c, audience, goal)))

    async def purge_activity(self, before: float) -> int:
        gone: int = await self._store._write(writer.purge_activity, before)
        return gone

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        return self._store._read(work)


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _states(connection: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in _dicts(connection.execute("SELECT * FROM audiences"))}


def _figures(connection: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    members = connection.execute(
        """SELECT audience, state, synced, held, errored IS NOT NULL, dirty, count(*) FROM audience_members
           GROUP BY 1, 2, 3, 4, 5, 6"""
    ).fetchall()
    counters = connection.execute("SELECT name, metric, value FROM counters WHERE scope = 'audience'").fetchall()
    daily = connection.execute(
        "SELECT audience, day, adds, deletes FROM audience_daily ORDER BY day DESC, audience LIMIT 1000"
    ).fetchall()
    return audience_figures(members, counters, daily)


def _members_of(connection: sqlite3.Connection, ids: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if not ids:
        return []
    where = " OR ".join(["(id_type = ? AND hash = ?)"] * len(ids))
    keys = [k for (k,) in connection.execute(
        f"SELECT DISTINCT user_key FROM audience_identities WHERE {where}", [v for p in ids for v in p]
    )]  # fmt: skip
    if not keys:
        return []
    marks = ", ".join("?" * len(keys))
    rows = _dicts(
        connection.execute(
            f"SELECT * FROM audience_members WHERE user_key IN ({marks}) ORDER BY audience, user_key", keys
        )
    )
    return [member_view(row) for row in rows]


# Users in the window who did it often enough (and for enough value), and did not do `not_did` in it.
QUALIFYING = """SELECT a.user_key, min(a.first_at),
                  (SELECT consent FROM audience_activity l WHERE l.activity = :did AND l.user_key = a.user_key
                   ORDER BY l.last_at DESC LIMIT 1),
                  (SELECT json_group_array(DISTINCT id_type) FROM audience_identities i WHERE i.user_key = a.user_key)
                FROM audience_activity a WHERE a.activity = :did AND a.day >= :since
                  AND NOT EXISTS (SELECT 1 FROM audience_activity n WHERE n.activity = :not_did AND n.day >= :since
                                  AND n.user_key = a.user_key)
                GROUP BY a.user_key HAVING sum(a.count) >= :at_least AND sum(a.value_sum) >= :value
                ORDER BY a.user_key"""
# For lift: members from when TikTok first held them, the control group from when they qualified.
GROUPS = """SELECT user_key, 'members', first_synced_at FROM audience_members
            WHERE audience = :audience AND held IS NULL AND first_synced_at IS NOT NULL
            UNION ALL SELECT user_key, 'control', entered_at FROM audience_members
            WHERE audience = :audience AND held = 'control_group' AND entered_at IS NOT NULL"""
CONVERSIONS = """SELECT c.user_key, c.at, c.value FROM audience_conversions c
                 WHERE c.goal = :goal
                   AND c.user_key IN (SELECT user_key FROM audience_members WHERE audience = :audience)
                 ORDER BY c.at"""


def _qualifying(
    connection: sqlite3.Connection, did: str, since: str, at_least: int, value: float | None, not_did: str | None
) -> list[tuple[str, float, str | None, str]]:
    params = {"did": did, "since": since, "not_did": not_did or "", "at_least": at_least, "value": value or -1e300}
    return [tuple(row) for row in connection.execute(QUALIFYING, params)]


def _groups(connection: sqlite3.Connection, audience: str) -> list[tuple[str, str, float]]:
    return [tuple(row) for row in connection.execute(GROUPS, {"audience": audience})]


def _conversions(connection: sqlite3.Connection, audience: str, goal: str) -> list[tuple[str, float, float]]:
    params = {"audience": audience, "goal": goal}
    return [tuple(row) for row in connection.execute(CONVERSIONS, params)]

"""A past-behaviour run's change set, applied in one transaction: nobody sees (or syncs) half of it.

`plan_run` is the pure diff both stores apply (`store/postgres/activity.py` too): qualifying users become rows in
state `in` (held: control_group, a consent reason, or no_identifier; members none), users over the target cap and
never sent are `out` with held `over_cap` (counted), a synced member displaced by the cap or no longer qualifying
goes `out` with nothing held, so the delete is sent. Rows that already say the same are not written.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .counters import Counters, bump

# (audience, last_run, run_at, [(user_key, held, since)], sync types JSON)
RunRow = tuple[str, float | None, float, list[tuple[str, str | None, float]], str]
# What a row is now: user_key -> (state, held, synced, ids JSON)
Current = dict[str, tuple[str, str | None, str, str]]
# A row to write: (user_key, state, ids JSON, held, entered_at)
Write = tuple[str, str, str, str | None, float | None]


def plan_run(
    current: Current, users: list[tuple[str, str | None, float]], ids_of: dict[str, dict[str, str]], types: list[str]
) -> tuple[list[Write], dict[str, int]]:
    writes: list[Write] = []
    summary = {"qualifying": len(users), "members": 0, "control": 0, "over_cap": 0, "not_synced": 0,
               "entered": 0, "left": 0}  # fmt: skip
    wanted = set()
    for key, held, since in users:
        wanted.add(key)
        ids = ids_of.get(key, {})
        ids_json = json.dumps(ids, sort_keys=True)
        state, old_held, synced, old_ids = current.get(key, ("out", None, "out", "{}"))
        new: tuple[str, str | None]
        if held == "over_cap":
            summary["over_cap"] += 1
            new = ("out", None) if synced == "in" else ("out", "over_cap")
        else:
            if held is None and not any(t in ids for t in types):
                held = "no_identifier"
            summary["members" if held is None else "control" if held == "control_group" else "not_synced"] += 1
            new = ("in", held)
            summary["entered"] += state != "in"
        if (state, old_held) != new or (new[0] == "in" and old_ids != ids_json):
            entered_at = since if new[0] == "in" else None
            writes.append((key, new[0], ids_json, new[1], entered_at))
    for key, (state, held, _synced, ids_json) in current.items():
        if key not in wanted and (state != "out" or held is not None):
            summary["left"] += state == "in"
            writes.append((key, "out", ids_json, None, None))
    return writes, summary


_UPSERT = """INSERT INTO audience_members (audience, user_key, state, ids, held, entered_at, changed_at, version)
             VALUES (?, ?, ?, ?, ?, ?, ?, 1)
             ON CONFLICT (audience, user_key) DO UPDATE SET
               version = version + 1,
               state = excluded.state, ids = excluded.ids, held = excluded.held,
               entered_at = coalesce(CASE WHEN state = 'in' THEN entered_at END, excluded.entered_at),
               changed_at = excluded.changed_at, errored = NULL, attempts = 0, first_failure_at = NULL,
               next_attempt_at = 0"""


def apply_run(connection: sqlite3.Connection, counters: Counters, run: RunRow, now: float) -> dict[str, Any] | None:
    audience, last_run, run_at, users, types_json = run
    connection.execute("INSERT INTO audiences (name) VALUES (?) ON CONFLICT DO NOTHING", (audience,))
    (done,) = connection.execute("SELECT past_run_at FROM audiences WHERE name = ?", (audience,)).fetchone()
    if done != last_run:
        return None  # another worker ran it first
    current: Current = {
        key: (state, held, synced, ids)
        for key, state, held, synced, ids in connection.execute(
            "SELECT user_key, state, held, synced, ids FROM audience_members WHERE audience = ?", (audience,)
        )
    }
    ids_of: dict[str, dict[str, str]] = {}
    keys = [key for key, _, _ in users]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for key, id_type, digest in connection.execute(
            f"""SELECT user_key, id_type, min(hash) FROM audience_identities
                WHERE user_key IN ({", ".join("?" * len(chunk))}) GROUP BY 1, 2""",
            chunk,
        ):
            ids_of.setdefault(key, {})[id_type] = digest
    writes, summary = plan_run(current, users, ids_of, json.loads(types_json))
    connection.executemany(_UPSERT, [(audience, k, s, i, h, e, now) for k, s, i, h, e in writes])
    connection.execute(
        "UPDATE audiences SET past_run_at = ?, past_run = ? WHERE name = ?",
        (run_at, json.dumps({**summary, "at": run_at}), audience),
    )
    bump(connection, [("audience", audience, "entered", summary["entered"]),
                      ("audience", audience, "exited", summary["left"])], now)  # fmt: skip
    return summary

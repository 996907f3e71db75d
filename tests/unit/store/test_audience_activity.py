"""Past-behaviour activity, runs, the control group and conversions, on both backends through the Store API."""

from __future__ import annotations

import json
import time

import pytest

from forwarder.store import IngestWrite, Store
from forwarder.store.audiences import ActivityRecord, PastRun, Settlement
from tests.audience_signals import ingest as ingest_signals
from tests.audience_signals import signal

pytestmark = pytest.mark.anyio
NOW = float(int(time.time()))
DAY = 86400.0
TYPES = json.dumps(["email"])


def email(n: int) -> str:
    return f"{n:064x}"


def did(
    n: int,
    event_id: str,
    at: float,
    *,
    key: str = "PURCHASE",
    value: float | None = None,
    kind: str = "activity",
    ids: dict[str, str] | None = None,
) -> ActivityRecord:
    """User `n` did `key` (hashed email n, unless `ids` says otherwise)."""
    who = json.dumps({"email": email(n)} if ids is None else ids)
    return ActivityRecord(kind, key, event_id, who, at, value, None)


async def record(store: Store, *records: ActivityRecord, now: float = NOW) -> None:
    assert await store.enqueue(IngestWrite(items=[], activity=list(records)), now) == []


def day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


async def test_qualifying_counts_within_the_window_once_per_event_and_excludes_not_did(store: Store) -> None:
    await record(
        store,
        did(1, "a", NOW - DAY, value=30), did(1, "b", NOW, value=30),  # twice, 60: qualifies
        did(1, "b", NOW, value=30),  # the same event again: counted once
        did(2, "c", NOW, value=100),  # once only
        did(3, "d", NOW - 40 * DAY, value=50), did(3, "e", NOW, value=50),  # one of them before the window
        did(4, "f", NOW, value=10), did(4, "g", NOW, value=10),  # twice, but 20 < 50
        did(5, "h", NOW, value=40), did(5, "i", NOW, value=40), did(5, "j", NOW, key="REFUND"),  # refunded
        did(6, "k", NOW, ids={}),  # anonymous: nobody to count it for
    )  # fmt: skip
    since = day(NOW - 29 * DAY)
    rows = await store.audiences.qualifying("PURCHASE", since, 2, 50, "REFUND")
    assert [(first, json.loads(types)) for _, first, _, types in rows] == [(NOW - DAY, ["email"])]
    assert len(await store.audiences.qualifying("PURCHASE", since, 1, None, None)) == 5
    assert len(await store.audiences.qualifying("PURCHASE", day(NOW - 60 * DAY), 2, None, None)) == 4


async def test_a_run_applies_its_change_set_and_the_next_run_updates_it(store: Store) -> None:
    await record(store, *(did(n, f"e{n}", NOW) for n in range(1, 6)))
    keys = [key for key, *_ in await store.audiences.qualifying("PURCHASE", day(NOW), 1, None, None)]
    users = [(keys[0], None, NOW), (keys[1], "control_group", NOW), (keys[2], "over_cap", NOW),
             (keys[3], None, NOW), (keys[4], "limited_data_use", NOW)]  # fmt: skip
    summary = await store.audiences.apply_run(PastRun("buyers", None, NOW, users, TYPES), NOW)
    assert summary == {"qualifying": 5, "members": 2, "control": 1, "over_cap": 1, "not_synced": 1,
                       "entered": 4, "left": 0}  # fmt: skip
    # The same run again (another replica, or a retry after it committed) changes nothing.
    assert await store.audiences.apply_run(PastRun("buyers", None, NOW, users, TYPES), NOW) is None
    got = (await store.audiences.figures())["buyers"]
    assert (got["members"], got["held_out"], got["over_cap"], got["not_synced"]) == (3, 1, 1, 1)
    claims = await store.audiences.claim("A", "buyers", 10, NOW, 60)
    assert sorted(c.user_key for c in claims) == sorted([keys[0], keys[3]])  # held users are never sent
    await store.audiences.settle("A", "buyers", [Settlement(c.user_key, c.version, "synced", "in", 0, None, "r")
                                                  for c in claims], NOW + 1)  # fmt: skip
    # Next run: keys[0] no longer qualifies (its delete is sent), keys[2] gets a seat.
    later = [(keys[1], "control_group", NOW + 10), (keys[2], None, NOW + 10), (keys[3], None, NOW + 10)]
    summary = await store.audiences.apply_run(PastRun("buyers", NOW, NOW + 10, later, TYPES), NOW + 10)
    assert summary is not None and (summary["entered"], summary["left"]) == (1, 2)
    claims = await store.audiences.claim("A", "buyers", 10, NOW + 10, 60)
    assert sorted((c.user_key, c.state) for c in claims) == sorted([(keys[0], "out"), (keys[2], "in")])
    got = (await store.audiences.figures())["buyers"]
    assert (got["members"], got["held_out"], got["over_cap"], got["not_synced"]) == (2, 1, 0, 0)
    state = (await store.audiences.states())["buyers"]
    assert state["past_run_at"] == NOW + 10 and json.loads(state["past_run"])["members"] == 2


async def test_live_rules_hold_out_the_control_group_by_keyed_hash(store: Store) -> None:
    signals = [
        signal("enter", f"e{n}", NOW, audience="live", email=email(n))._replace(holdout_share=0.5) for n in range(200)
    ]
    await ingest_signals(store, *signals, now=NOW)
    got = (await store.audiences.figures())["live"]
    assert got["held_out"] + got["members"] == 200
    assert 60 < got["held_out"] < 140  # about half, by hash
    claims = await store.audiences.claim("A", "live", 1000, NOW, 60)
    assert len(claims) == 200 - got["held_out"]


async def test_conversions_and_groups_for_lift(store: Store) -> None:
    await record(store, did(1, "a", NOW), did(2, "b", NOW))
    keys = [key for key, *_ in await store.audiences.qualifying("PURCHASE", day(NOW), 1, None, None)]
    users = [(keys[0], None, NOW), (keys[1], "control_group", NOW)]
    await store.audiences.apply_run(PastRun("buyers", None, NOW, users, TYPES), NOW)
    claims = await store.audiences.claim("A", "buyers", 10, NOW, 60)
    await store.audiences.settle("A", "buyers", [Settlement(c.user_key, c.version, "synced", "in", 0, None, "r")
                                                  for c in claims], NOW + 5)  # fmt: skip
    await record(
        store,
        did(1, "p1", NOW + 50, key="PURCHASE", kind="goal", value=20.0),
        did(1, "p1", NOW + 50, key="PURCHASE", kind="goal", value=20.0),  # once
        did(2, "p2", NOW + 60, key="PURCHASE", kind="goal", value=7.5),
        did(3, "p3", NOW + 60, key="PURCHASE", kind="goal", value=9.0),  # not in the audience
    )
    groups, conversions = await store.audiences.outcomes("buyers", "PURCHASE")
    assert sorted(groups) == sorted([(keys[0], "members", NOW + 5), (keys[1], "control", NOW)])
    assert sorted(conversions) == sorted([(keys[0], NOW + 50, 20.0), (keys[1], NOW + 60, 7.5)])
    assert await store.audiences.purge_activity(NOW + 55) >= 1
    _, conversions = await store.audiences.outcomes("buyers", "PURCHASE")
    assert conversions == [(keys[1], NOW + 60, 7.5)]

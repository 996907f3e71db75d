"""Past-behaviour audiences end to end in one process: events through the ingest rules into a real SQLite store,
runs on their schedule, the sync loop to the Marketing API emulator; exactly the expected members, the control
group never sent, the cap's winners stable, and the next run following changed behaviour."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from forwarder.audiences.activity import activity_key
from forwarder.audiences.assignment import assign
from forwarder.audiences.signals import AudienceRules
from forwarder.audiences.sync import AudienceSync
from forwarder.marketing.client import MarketingClient
from forwarder.marketing_emulator import MarketingState, create_marketing_emulator
from forwarder.settings import Settings
from forwarder.store import IngestWrite, SQLiteStore, Store
from forwarder.store.sqlite.writer.holdout import audience_secret
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio
ADVERTISER = "7002238017842757633"
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def configured(tmp_path: Path, **audience: Any) -> Settings:
    definition = {
        "advertiser_id": ADVERTISER,
        "identifiers": ["email"],
        "past": {"did": "PURCHASE", "at_least": 2, "value_at_least": 50, "within_days": 30, "not_did": "REFUND",
                 "schedule": "every 24h"},
        "goal": {"event": "PURCHASE", "within_days": 14},
        **audience,
    }  # fmt: skip
    return make_settings(tmp_path, audiences={"buyers": definition}, audience_sync={"retry_base_s": 1})


def email(i: int) -> str:
    return hashlib.sha256(f"user{i}@example.com".encode()).hexdigest()


async def post(store: Store, settings: Settings, events: list[tuple[str, str, int, float, float]]) -> None:
    """(event, event_id, user, at, value) as ingest records them."""
    rules = AudienceRules(settings.audiences)
    activity = [
        record
        for name, eid, user, at, value in events
        for record in rules.counted(name, eid, {"user": {"email": [email(user)]}, "properties": {"value": value}},
                                    at, False)
    ]  # fmt: skip
    await store.enqueue(IngestWrite(items=[], activity=activity), time.time())


def rig(store: Store, settings: Settings, clock: Clock, state: MarketingState) -> AudienceSync:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_marketing_emulator(state)))

    async def token() -> str:
        return "emulator-token"

    return AudienceSync(store, lambda: settings, MarketingClient(http, "http://emulator"), token, "owner-1", clock)


def at_tiktok(state: MarketingState) -> set[str]:
    [audience] = state.audiences.values()
    return {json.loads(m)[0]["id"] if m.startswith("[") else m for m in map(str, audience.members)}


async def test_a_past_rule_yields_exactly_the_expected_members_and_follows_behaviour(
    tmp_path: Path, store: Store
) -> None:
    settings, clock, state = configured(tmp_path), Clock(), MarketingState()
    state.ready_after_s = 0
    now = clock.now
    await post(store, settings, [
        *(("PURCHASE", f"a{i}", i, now - 5 * DAY, 30.0) for i in range(10)),
        *(("PURCHASE", f"b{i}", i, now - DAY, 30.0) for i in range(10)),  # users 0-9: twice, 60
        ("PURCHASE", "c10", 10, now, 100.0),  # once only
        ("PURCHASE", "c11", 11, now - 40 * DAY, 60.0), ("PURCHASE", "d11", 11, now, 60.0),  # once in the window
        ("REFUND", "r9", 9, now, 0.0),  # user 9 refunded
    ])  # fmt: skip
    sync = rig(store, settings, clock, state)
    await sync.sync_once()
    [audience] = state.audiences.values()
    assert len(audience.members) == 9
    figures = (await store.audiences.figures())["buyers"]
    assert (figures["members"], figures["synced"], figures["held_out"]) == (9, 9, 0)
    assert json.loads((await store.audiences.states())["buyers"]["past_run"])["qualifying"] == 9
    # Not due again for 24 h: new behaviour waits for the next run.
    await post(store, settings, [("PURCHASE", "e10", 10, now + 60, 1.0), ("REFUND", "r0", 0, now + 60, 0.0)])
    clock.now = now + 3600
    await sync.sync_once()
    assert len(audience.members) == 9
    clock.now = now + DAY + 1
    await sync.sync_once()  # user 10 qualifies now (twice, 101), user 0 refunded
    assert len(audience.members) == 9
    figures = (await store.audiences.figures())["buyers"]
    assert (figures["members"], figures["synced"], figures["totals"]["exited"]) == (9, 9, 1)


async def test_the_control_group_is_never_synced_and_the_cap_keeps_the_lowest_scores(
    tmp_path: Path, store: Store
) -> None:
    settings = configured(tmp_path, holdout_share=0.3, max_members=20)
    clock, state = Clock(), MarketingState()
    state.ready_after_s = 0
    now = clock.now
    await post(store, settings, [e for i in range(100) for e in (("PURCHASE", f"a{i}", i, now - DAY, 30.0),
                                                                  ("PURCHASE", f"b{i}", i, now, 30.0))])  # fmt: skip
    sync = rig(store, settings, clock, state)
    await sync.sync_once()
    keys = [
        key for key, *_ in await store.audiences.qualifying(activity_key("PURCHASE", {}), "2000-01-01", 1, None, None)
    ]
    assert len(keys) == 100
    expected = assign(audience_secret("buyers", None), "buyers", keys, control_share=0.3, cap=20)
    figures = (await store.audiences.figures())["buyers"]
    assert (figures["members"], figures["held_out"], figures["over_cap"]) == (
        20, len(expected.control), len(expected.over_cap),
    )  # fmt: skip
    [audience] = state.audiences.values()
    assert len(audience.members) == 20
    assert await store.audiences.claim("X", "buyers", 1000, clock.now, 60) == []  # the held are never to send
    # A restart (a new store on the same file) and the next run: the same users in each group, nothing moves.
    await store.close()
    reopened = SQLiteStore(tmp_path / "forwarder.db")
    await reopened.open()
    try:
        clock.now = now + DAY + 1
        await rig(reopened, settings, clock, state).sync_once()
        run = json.loads((await reopened.audiences.states())["buyers"]["past_run"])
        assert (run["entered"], run["left"], run["control"], run["members"]) == (0, 0, len(expected.control), 20)
        assert len(audience.members) == 20
    finally:
        await reopened.close()

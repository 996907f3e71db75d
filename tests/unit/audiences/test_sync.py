"""The sync loop against the Marketing API emulator, on a real SQLite store: membership reaches TikTok exactly,
in batches within TikTok's limits, and every refusal lands where ops look."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from forwarder.audiences.report import audience_documents
from forwarder.audiences.signals import AudienceRules
from forwarder.audiences.sync import AudienceSync
from forwarder.marketing.client import MarketingClient
from forwarder.marketing_emulator import MarketingState, create_marketing_emulator
from forwarder.settings import Settings
from forwarder.store import IngestWrite, Store
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio
ADVERTISER = "7002238017842757633"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def audience_settings(tmp_path: Path, **audience: Any) -> Settings:
    definition = {
        "advertiser_id": ADVERTISER,
        "enter": {"event": "START_TRIAL"},
        "unless": {"event": "PURCHASE", "within_s": 60},
        "exit": {"event": "CANCEL"},
        **audience,
    }
    return make_settings(
        tmp_path, audiences={"trial": definition}, audience_sync={"max_users_per_request": 100, "retry_base_s": 1}
    )


def rig(store: Store, settings: Settings, clock: Clock, state: MarketingState, token: str = "emulator-token"):
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_marketing_emulator(state)))
    client = MarketingClient(http, "http://emulator")

    async def current() -> str:
        return token

    return AudienceSync(store, lambda: settings, client, current, "owner-1", clock)


async def post(store: Store, settings: Settings, events: list[tuple[str, str, dict[str, Any], float]]) -> None:
    """Signals as ingest makes them, from (event, event_id, user document, at)."""
    rules = AudienceRules(settings.audiences)
    signals = [s for name, eid, user, at in events for s in rules.signals(name, eid, {"user": user}, at, False)]
    await store.enqueue(IngestWrite(items=[], audience_signals=signals), time.time())


def email(i: int) -> dict[str, Any]:
    import hashlib

    return {"email": [hashlib.sha256(f"user{i}@example.com".encode()).hexdigest()]}


def members(state: MarketingState) -> set[str]:
    [audience] = state.audiences.values()
    return {json.dumps(sorted(m)) for m in audience.members} if isinstance(audience.members, set) else set()


async def test_trial_without_purchase_reaches_tiktok_and_the_exit_leaves(tmp_path: Path, store: Store) -> None:
    settings, clock, state = audience_settings(tmp_path), Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    start = clock.now
    await post(store, settings, [("START_TRIAL", f"t{i}", email(i), start) for i in range(250)])
    await post(store, settings, [("PURCHASE", f"p{i}", email(i), start + 10) for i in range(0, 250, 5)])
    assert await sync.sync_once() == 0  # within the unless window nobody is a member yet
    clock.now = start + 61
    assert await sync.sync_once() == 200
    [audience] = state.audiences.values()
    assert len(audience.members) == 200
    await post(store, settings, [("CANCEL", f"c{i}", email(i), start + 70) for i in range(1, 250, 5)])
    clock.now += 1
    assert await sync.sync_once() == 50
    assert len(audience.members) == 150
    figures = (await store.audiences.figures())["trial"]
    assert figures["members"] == 150 and figures["synced"] == 150 and figures["pending"] == 0
    assert figures["totals"]["sent"] == 250 and figures["totals"]["cancelled"] == 50
    mapping_calls = [r for r in state.requests if r["path"].endswith("/segment/mapping/")]
    assert len(mapping_calls) == 3  # 200 adds in 2 requests of 100, then 50 deletes in 1


def emails_in(state: MarketingState) -> set[str]:
    [audience] = state.audiences.values()
    return {i.split(":", 1)[1] for member in audience.members for i in member if i.startswith("EMAIL_SHA256:")}


async def test_a_delete_recorded_while_an_add_is_in_flight_wins(tmp_path: Path, store: Store) -> None:
    settings, clock, state = audience_settings(tmp_path, unless=None), Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    await post(store, settings, [("START_TRIAL", "t1", email(1), clock.now)])
    settle = store.audiences.settle

    async def exit_during_the_request(*args: Any) -> None:
        # The user leaves after the add was sent and before its answer is recorded.
        await post(store, settings, [("CANCEL", "c1", email(1), clock.now)])
        await settle(*args)

    store.audiences.settle = exit_during_the_request  # type: ignore[method-assign]
    await sync.sync_once()
    store.audiences.settle = settle  # type: ignore[method-assign]
    [audience] = state.audiences.values()
    assert [h["action"] for h in audience.history] == ["add", "delete"]  # the add landed, the delete followed
    assert emails_in(state) == set()  # the latest state wins
    assert (await store.audiences.figures())["trial"]["pending"] == 0


async def test_a_revoked_token_pauses_the_advertiser_and_a_new_one_resumes(tmp_path: Path, store: Store) -> None:
    settings, clock, state = audience_settings(tmp_path, unless=None), Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    await post(store, settings, [("START_TRIAL", "t1", email(1), clock.now)])
    await sync.sync_once()
    state.tokens["emulator-token"].revoked = True
    await post(store, settings, [("START_TRIAL", "t2", email(2), clock.now)])
    assert await sync.sync_once() == 0
    audience = (await store.audiences.states())["trial"]
    assert audience["status"] == "paused" and json.loads(audience["problem"])["problem"] == "invalid_connection"
    assert (await store.audiences.figures())["trial"]["pending"] == 1  # kept, not errored
    state.tokens["emulator-token"].revoked = False
    clock.now += 30
    assert await sync.sync_once() == 0  # still paused: the probe waits for its time
    clock.now += 31
    assert await sync.sync_once() == 1
    assert (await store.audiences.states())["trial"]["status"] == "active"
    assert len(emails_in(state)) == 2


async def test_an_audience_deleted_in_tiktok_is_not_found_and_not_recreated(tmp_path: Path, store: Store) -> None:
    settings, clock, state = audience_settings(tmp_path, unless=None), Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    await post(store, settings, [("START_TRIAL", "t1", email(1), clock.now)])
    await sync.sync_once()
    [audience] = state.audiences.values()
    audience.deleted = True
    await post(store, settings, [("START_TRIAL", "t2", email(2), clock.now)])
    await sync.sync_once()
    await sync.sync_once()
    row = (await store.audiences.states())["trial"]
    assert row["status"] == "not_found"
    assert "recreate_if_deleted" in json.loads(row["problem"])["fix"]
    assert len(state.audiences) == 1  # not recreated


async def test_recreate_if_deleted_makes_a_new_audience_and_sends_everyone_again(tmp_path: Path, store: Store) -> None:
    settings = audience_settings(tmp_path, unless=None, recreate_if_deleted=True)
    clock, state = Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    await post(store, settings, [("START_TRIAL", f"t{i}", email(i), clock.now) for i in range(3)])
    await sync.sync_once()
    [old] = state.audiences.values()
    old.deleted = True
    await post(store, settings, [("START_TRIAL", "t9", email(9), clock.now)])
    await sync.sync_once()  # the add finds the audience gone
    await sync.sync_once()  # a new one is made and everyone sent to it
    fresh = [a for a in state.audiences.values() if not a.deleted]
    assert len(fresh) == 1 and len(fresh[0].members) == 4


async def test_failures_retry_until_the_horizon_then_count_as_errored(tmp_path: Path, store: Store) -> None:
    settings = audience_settings(tmp_path, unless=None, retry_horizon_h=1)
    clock, state = Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    await post(store, settings, [("START_TRIAL", "t1", email(1), clock.now)])
    await sync.sync_once()  # creates the audience and syncs user 1
    await post(store, settings, [("START_TRIAL", "t2", email(2), clock.now)])
    for _ in range(3):
        state.script.append({"path": "/open_api/v1.3/segment/mapping/", "status": 503})
        await sync.sync_once()
        clock.now += 1000
    figures = (await store.audiences.figures())["trial"]
    assert figures["pending"] == 1 and figures["errored"] == 0
    state.script.append({"path": "/open_api/v1.3/segment/mapping/", "status": 503})
    clock.now += 3600
    await sync.sync_once()
    figures = (await store.audiences.figures())["trial"]
    assert figures["errored"] == 1 and figures["pending"] == 0
    [member] = await store.audiences.members_of([("email", email(2)["email"][0])])
    assert member["errored"] == "internal_error" and member["request_ids"] == []


async def test_users_without_a_usable_identifier_or_consent_are_never_sent(tmp_path: Path, store: Store) -> None:
    settings = audience_settings(tmp_path, unless=None, identifiers=["idfa"])
    clock, state = Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    rules = AudienceRules(settings.audiences)
    signals = rules.signals("START_TRIAL", "t1", {"user": email(1)}, clock.now, False)  # email only: no IDFA
    signals += rules.signals("START_TRIAL", "t2", {"device": {"idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"}},
                             clock.now, True)  # fmt: skip
    await store.enqueue(IngestWrite(items=[], audience_signals=signals), clock.now)
    assert await sync.sync_once() == 0
    figures = (await store.audiences.figures())["trial"]
    assert figures["not_synced"] == 2
    assert figures["not_synced_by_reason"] == {"no_identifier": 1, "limited_data_use": 1}


async def test_forget_removes_the_user_at_tiktok_then_from_the_store(tmp_path: Path, store: Store) -> None:
    settings, clock, state = audience_settings(tmp_path, unless=None), Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    await post(store, settings, [("START_TRIAL", f"t{i}", email(i), clock.now) for i in range(2)])
    await sync.sync_once()
    ids = [("email", email(1)["email"][0])]
    assert await store.audiences.forget(ids, clock.now) == 1
    assert await store.audiences.members_of(ids) == []  # the identity is gone at once
    await sync.sync_once()
    assert emails_in(state) == {email(0)["email"][0]}
    assert (await store.audiences.figures())["trial"]["members"] == 1  # and the row after TikTok's delete


async def test_a_capped_live_audience_sends_the_first_to_enter_and_the_next_when_one_leaves(
    tmp_path: Path, store: Store
) -> None:
    settings = audience_settings(tmp_path, unless=None, max_members=3)
    clock, state = Clock(), MarketingState()
    state.ready_after_s = 0
    sync = rig(store, settings, clock, state)
    for i in range(5):  # one at a time: who entered first is who is sent first
        await post(store, settings, [("START_TRIAL", f"t{i}", email(i), clock.now)])
        clock.now += 1
    assert await sync.sync_once() == 3
    assert emails_in(state) == {email(i)["email"][0] for i in range(3)}
    document = (await audience_documents(store, settings))["trial"]
    assert (document["members"], document["synced"], document["over_cap"], document["pending"]) == (5, 3, 2, 0)
    await post(store, settings, [("CANCEL", "c1", email(1), clock.now)])
    clock.now += 1
    await sync.sync_once()  # the delete first; then the room it leaves goes to the earliest waiting
    await sync.sync_once()
    assert emails_in(state) == {email(i)["email"][0] for i in (0, 2, 3)}
    assert (await audience_documents(store, settings))["trial"]["over_cap"] == 1

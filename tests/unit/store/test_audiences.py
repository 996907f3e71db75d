"""The audience ledger's contract (store/audiences.py), run against both backends through the public Store API:
signals applied at ingest, the timers, claims with leases, settlements, forget, and the audience's own row."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from forwarder.settings import StoreSettings
from forwarder.store import Store, make_store
from forwarder.store.audiences import AudienceSignal, Settlement
from tests.audience_signals import ingest as ingest_signals
from tests.audience_signals import signal as audience_signal

pytestmark = pytest.mark.anyio
NOW = float(int(time.time()))
LEASE = 60.0
EMAIL, EMAIL_2, IDFA, PHONE = "e" * 64, "f" * 64, "a" * 64, "b" * 64


def signal(action: str, event_id: str, at: float = NOW, **kwargs: Any) -> AudienceSignal:
    return audience_signal(action, event_id, at, **kwargs)


async def ingest(store: Store, *signals: AudienceSignal, now: float = NOW) -> None:
    await ingest_signals(store, *signals, now=now)


def synced(claims: list[Any], now: float = NOW, request_id: str | None = "req") -> list[Settlement]:
    return [Settlement(c.user_key, c.version, "synced", c.state, now, None, request_id) for c in claims]


async def figures(store: Store, audience: str = "trial") -> dict[str, Any]:
    return (await store.audiences.figures())[audience]


async def member(store: Store, *ids: tuple[str, str]) -> dict[str, Any]:
    [row] = await store.audiences.members_of(list(ids))
    return row


async def test_an_entered_user_is_a_member_to_add(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    [claim] = await store.audiences.claim("A", "trial", 10, NOW, LEASE)
    assert (claim.state, claim.ids, claim.version) == ("in", {"email": EMAIL}, 1)
    got = await figures(store)
    assert (got["members"], got["pending"], got["synced"], got["totals"]["entered"]) == (1, 1, 0, 1)
    assert await store.audiences.claim("B", "other", 10, NOW, LEASE) == []  # per audience


async def test_an_unless_window_holds_the_user_pending_until_the_timer_lets_them_in(store: Store) -> None:
    await ingest(store, signal("enter", "e1", due_at=NOW + 100, email=EMAIL))
    assert await store.audiences.claim("A", "trial", 10, NOW + 200, LEASE) == []  # pending is never sent
    assert (await figures(store))["waiting"] == 1
    assert await store.audiences.timers(NOW + 99) == 0
    assert await store.audiences.timers(NOW + 100) == 1
    assert await store.audiences.timers(NOW + 101) == 0  # once
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 100, LEASE)
    assert claim.state == "in"
    got = await figures(store)
    assert (got["members"], got["waiting"], got["totals"]["waiting"], got["totals"]["entered"]) == (1, 0, 1, 1)


async def test_a_cancel_within_the_window_leaves_and_nothing_is_ever_sent(store: Store) -> None:
    await ingest(store, signal("enter", "e1", due_at=NOW + 100, email=EMAIL))
    await ingest(store, signal("cancel", "p1", NOW + 50, email=EMAIL), now=NOW + 50)
    assert await store.audiences.timers(NOW + 200) == 0
    assert await store.audiences.claim("A", "trial", 10, NOW + 200, LEASE) == []
    got = await figures(store)
    assert (got["members"], got["waiting"], got["pending"], got["totals"]["cancelled"]) == (0, 0, 0, 1)
    assert (await member(store, ("email", EMAIL)))["state"] == "out"


async def test_a_cancel_that_arrives_after_the_timer_still_cancels_if_it_happened_in_the_window(store: Store) -> None:
    await ingest(store, signal("enter", "e1", due_at=NOW + 100, email=EMAIL))
    await store.audiences.timers(NOW + 150)
    claims = await store.audiences.claim("A", "trial", 10, NOW + 150, LEASE)
    await store.audiences.settle("A", "trial", synced(claims), NOW + 151)
    await ingest(store, signal("cancel", "late", NOW + 101, email=EMAIL), now=NOW + 160)  # happened after the window
    assert (await member(store, ("email", EMAIL)))["state"] == "in"
    await ingest(store, signal("cancel", "p1", NOW + 90, email=EMAIL), now=NOW + 160)  # happened within it
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 160, LEASE)
    assert claim.state == "out"  # TikTok holds them: the delete is sent
    assert (await figures(store))["totals"]["cancelled"] == 1


async def test_exit_deletes_a_synced_member(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    await store.audiences.settle("A", "trial", synced(await store.audiences.claim("A", "trial", 10, NOW, LEASE)), NOW)
    assert await store.audiences.claim("A", "trial", 10, NOW, LEASE) == []
    await ingest(store, signal("exit", "x1", NOW + 5, email=EMAIL), now=NOW + 5)
    claims = await store.audiences.claim("A", "trial", 10, NOW + 5, LEASE)
    assert [c.state for c in claims] == ["out"]
    await store.audiences.settle("A", "trial", synced(claims, request_id="req-2"), NOW + 6)
    got = await figures(store)
    assert (got["members"], got["synced"], got["pending"]) == (0, 0, 0)
    assert (got["totals"]["exited"], got["totals"]["sent"]) == (1, 2)
    assert got["daily"][0]["adds"] == 1 and got["daily"][0]["deletes"] == 1
    row = await member(store, ("email", EMAIL))
    assert (row["state"], row["synced"], row["request_ids"]) == ("out", "out", ["req", "req-2"])


async def test_a_ttl_lets_the_member_go_by_timer(store: Store) -> None:
    await ingest(store, signal("enter", "e1", expires_at=NOW + 60, email=EMAIL))
    assert await store.audiences.timers(NOW + 59) == 0
    assert await store.audiences.timers(NOW + 60) == 1
    got = await figures(store)
    assert (got["members"], got["totals"]["expired"]) == (0, 1)
    assert await store.audiences.claim("A", "trial", 10, NOW + 60, LEASE) == []  # never added, nothing to delete


async def test_the_same_event_acts_once(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL), signal("enter", "e1", email=EMAIL))
    await ingest(store, signal("exit", "x1", email=EMAIL))
    await ingest(store, signal("enter", "e1", email=EMAIL))  # sent again after the exit: not a new entry
    assert (await member(store, ("email", EMAIL)))["state"] == "out"
    assert (await figures(store))["totals"]["entered"] == 1


async def test_identifiers_seen_together_are_one_user(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL, idfa=IDFA))
    await ingest(store, signal("exit", "x1", idfa=IDFA))
    by_email, by_idfa = await member(store, ("email", EMAIL)), await member(store, ("idfa", IDFA))
    assert by_email == by_idfa
    assert (by_email["state"], by_email["identifiers"]) == ("out", ["email", "idfa"])
    assert (await figures(store))["members"] == 0


async def test_a_user_without_a_usable_identifier_is_held_until_one_arrives(store: Store) -> None:
    await ingest(store, signal("enter", "anon"))  # no identifier at all: counted, no row
    await ingest(store, signal("enter", "e1", types=("email",), idfa=IDFA))
    assert await store.audiences.claim("A", "trial", 10, NOW, LEASE) == []
    got = await figures(store)
    assert (got["members"], got["not_synced"], got["not_synced_by_reason"]) == (1, 1, {"no_identifier": 1})
    assert got["totals"]["anonymous"] == 1
    await ingest(store, signal("enter", "e2", NOW + 1, types=("email",), idfa=IDFA, email=EMAIL), now=NOW + 1)
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 1, LEASE)
    assert claim.ids == {"email": EMAIL, "idfa": IDFA}
    assert (await figures(store))["not_synced"] == 0


async def test_a_user_who_withheld_consent_is_recorded_and_never_sent(store: Store) -> None:
    await ingest(store, signal("enter", "e1", consent="limited_data_use", email=EMAIL))
    assert await store.audiences.claim("A", "trial", 10, NOW + 1000, LEASE) == []
    got = await figures(store)
    assert (got["members"], got["not_synced_by_reason"]) == (1, {"limited_data_use": 1})


async def test_claims_are_leased_and_taken_back_after_the_lease_when_the_owner_died(store: Store) -> None:
    await ingest(store, *(signal("enter", f"e{n}", email=f"{n}" * 64) for n in range(3)))
    first = await store.audiences.claim("A", "trial", 2, NOW, LEASE)
    second = await store.audiences.claim("B", "trial", 10, NOW, LEASE)
    assert len(first) == 2 and len(second) == 1
    assert {c.user_key for c in first}.isdisjoint(c.user_key for c in second)
    assert await store.audiences.claim("B", "trial", 10, NOW + LEASE - 1, LEASE) == []
    again = await store.audiences.claim("C", "trial", 10, NOW + LEASE + 1, LEASE)  # A and B were kill -9'd
    assert len(again) == 3
    await store.audiences.settle("A", "trial", synced(first), NOW + LEASE + 2)  # A's lease is C's now: fenced
    assert (await figures(store))["synced"] == 0
    await store.audiences.settle("C", "trial", synced(again), NOW + LEASE + 2)
    assert (await figures(store))["synced"] == 3


async def test_a_row_changed_while_it_was_sent_stays_to_send_so_an_add_never_overtakes_a_delete(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    [add] = await store.audiences.claim("A", "trial", 10, NOW, LEASE)
    await ingest(store, signal("exit", "x1", NOW + 1, email=EMAIL), now=NOW + 1)
    assert await store.audiences.claim("B", "trial", 10, NOW + 1, LEASE) == []  # in flight: nobody sends it twice
    await store.audiences.settle("A", "trial", synced([add]), NOW + 2)
    row = await member(store, ("email", EMAIL))
    assert (row["state"], row["synced"]) == ("out", "in")  # TikTok has the add
    [delete] = await store.audiences.claim("B", "trial", 10, NOW + 2, LEASE)
    assert (delete.state, delete.version) == ("out", add.version + 1)
    await store.audiences.settle("B", "trial", synced([delete]), NOW + 3)
    assert (await member(store, ("email", EMAIL)))["synced"] == "out"
    assert await store.audiences.claim("B", "trial", 10, NOW + 3, LEASE) == []


async def test_a_retry_waits_and_keeps_when_the_failures_began(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    [claim] = await store.audiences.claim("A", "trial", 10, NOW, LEASE)
    retry = Settlement(claim.user_key, claim.version, "retry", "in", NOW + 60, "rate_limited", "req-1")
    await store.audiences.settle("A", "trial", [retry], NOW + 1)
    assert await store.audiences.claim("A", "trial", 10, NOW + 59, LEASE) == []
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 60, LEASE)
    assert claim.first_failure_at == NOW + 1  # the sync's retry horizon counts from it
    await store.audiences.settle("A", "trial", [retry._replace(next_attempt_at=NOW + 200)], NOW + 61)
    row = await member(store, ("email", EMAIL))
    assert (row["attempts"], row["problem"], row["first_failure_at"]) == (2, "rate_limited", NOW + 1)
    assert row["next_attempt_at"] == NOW + 200
    assert (await figures(store))["pending"] == 1
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 200, LEASE)
    await store.audiences.settle("A", "trial", synced([claim]), NOW + 201)
    row = await member(store, ("email", EMAIL))
    assert (row["attempts"], row["problem"], row["first_failure_at"], row["synced"]) == (0, None, None, "in")


async def test_an_errored_member_is_not_claimed_until_its_state_changes_again(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    [claim] = await store.audiences.claim("A", "trial", 10, NOW, LEASE)
    gave_up = Settlement(claim.user_key, claim.version, "errored", "in", NOW + 1, None, None)  # even unexplained
    await store.audiences.settle("B", "trial", [gave_up], NOW + 1)  # not B's to settle: counts nothing
    await store.audiences.settle("A", "trial", [gave_up], NOW + 1)
    assert await store.audiences.claim("A", "trial", 10, NOW + 100_000, LEASE) == []
    got = await figures(store)
    assert (got["errored"], got["pending"], got["totals"]["errored"]) == (1, 0, 1)
    await ingest(store, signal("exit", "x1", NOW + 2, email=EMAIL), now=NOW + 2)
    await ingest(store, signal("enter", "e2", NOW + 3, email=EMAIL), now=NOW + 3)
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 3, LEASE)
    assert claim.state == "in"
    assert (await figures(store))["errored"] == 0


async def test_forget_erases_unsynced_rows_at_once_and_synced_ones_once_tiktok_deleted_them(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL, idfa=IDFA), signal("enter", "e2", email=EMAIL_2))
    claims = await store.audiences.claim("A", "trial", 10, NOW, LEASE)
    await store.audiences.settle("A", "trial", synced([c for c in claims if "idfa" not in c.ids]), NOW)
    await store.audiences.settle("A", "trial", [Settlement(c.user_key, c.version, "release", c.state, NOW, None, None)
                                                for c in claims if "idfa" in c.ids], NOW)  # fmt: skip
    assert await store.audiences.forget([("email", EMAIL), ("email", EMAIL_2), ("phone", PHONE)], NOW + 1) == 2
    assert await store.audiences.members_of([("email", EMAIL), ("idfa", IDFA), ("email", EMAIL_2)]) == []
    [delete] = await store.audiences.claim("A", "trial", 10, NOW + 1, LEASE)  # only the one TikTok holds
    assert (delete.state, delete.ids) == ("out", {"email": EMAIL_2})
    await store.audiences.settle("A", "trial", synced([delete]), NOW + 2)
    assert (await figures(store))["synced"] == 0
    # Both rows are gone: the same users entering again start afresh (version 1, no history, linked to nothing).
    await ingest(store, signal("enter", "e3", NOW + 3, email=EMAIL_2), signal("enter", "e4", NOW + 3, idfa=IDFA))
    claims = await store.audiences.claim("A", "trial", 10, NOW + 3, LEASE)
    assert sorted((c.ids.popitem()[0], c.version) for c in claims) == [("email", 1), ("idfa", 1)]
    assert (await member(store, ("email", EMAIL_2)))["request_ids"] == []


async def test_forget_of_a_member_being_added_still_deletes_it_at_tiktok(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    [add] = await store.audiences.claim("A", "trial", 10, NOW, LEASE)
    assert await store.audiences.forget([("email", EMAIL)], NOW + 1) == 1  # while A is adding them
    await store.audiences.settle("A", "trial", synced([add]), NOW + 2)
    [delete] = await store.audiences.claim("B", "trial", 10, NOW + 2, LEASE)
    assert delete.state == "out"
    await store.audiences.settle("B", "trial", synced([delete]), NOW + 3)
    assert (await figures(store))["synced"] == 0
    await ingest(store, signal("enter", "e2", NOW + 4, email=EMAIL), now=NOW + 4)
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 4, LEASE)
    assert claim.version == 1  # the forgotten row left once TikTok confirmed the delete


async def test_a_forgotten_member_entering_again_before_the_delete_is_a_member_again(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    await store.audiences.settle("A", "trial", synced(await store.audiences.claim("A", "trial", 10, NOW, LEASE)), NOW)
    await store.audiences.forget([("email", EMAIL)], NOW + 1)
    await ingest(store, signal("enter", "e2", NOW + 2, email=EMAIL), now=NOW + 2)
    assert await store.audiences.claim("A", "trial", 10, NOW + 2, LEASE) == []  # TikTok holds them: nothing to do
    row = await member(store, ("email", EMAIL))
    assert (row["state"], row["synced"], row["forgetting"]) == ("in", "in", False)


async def test_the_newest_five_request_ids_are_kept(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL))
    for n in range(7):
        [claim] = await store.audiences.claim("A", "trial", 10, NOW + n, LEASE)
        retry = Settlement(claim.user_key, claim.version, "retry", "in", NOW + n + 1, "server_error", f"req-{n}")
        await store.audiences.settle("A", "trial", [retry], NOW + n)
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 7, LEASE)
    await store.audiences.settle("A", "trial", synced([claim], request_id=None), NOW + 7)
    assert (await member(store, ("email", EMAIL)))["request_ids"] == [f"req-{n}" for n in range(2, 7)]


async def test_begin_creation_lets_one_owner_at_a_time_and_none_once_the_audience_exists(store: Store) -> None:
    audiences = store.audiences
    assert await audiences.begin_creation("trial", "A", NOW, LEASE)
    assert not await audiences.begin_creation("trial", "B", NOW + 1, LEASE)
    assert await audiences.begin_creation("trial", "A", NOW + 2, LEASE)  # the owner may try again
    assert await audiences.begin_creation("trial", "B", NOW + 3 + LEASE, LEASE)  # A died
    await audiences.save("trial", {"tiktok_id": "7300000000000000001", "advertiser_id": "7002", "status": "ready"})
    assert not await audiences.begin_creation("trial", "B", NOW + 4 + LEASE, LEASE)
    assert not await audiences.begin_creation("trial", "C", NOW + 10_000, LEASE)
    state = (await audiences.states())["trial"]
    assert (state["tiktok_id"], state["advertiser_id"], state["status"]) == ("7300000000000000001", "7002", "ready")


async def test_reset_synced_sends_every_member_again_to_a_new_audience(store: Store) -> None:
    await ingest(store, signal("enter", "e1", email=EMAIL), signal("enter", "e2", email=EMAIL_2))
    await store.audiences.settle("A", "trial", synced(await store.audiences.claim("A", "trial", 10, NOW, LEASE)), NOW)
    await ingest(store, signal("exit", "x2", email=EMAIL_2))
    await store.audiences.reset_synced("trial", NOW + 1)
    [claim] = await store.audiences.claim("A", "trial", 10, NOW + 1, LEASE)  # the new audience has nobody to delete
    assert (claim.state, claim.ids) == ("in", {"email": EMAIL})


async def _scenario(store: Store) -> None:
    """Every kind of row the figures count, for comparing the backends' documents."""
    await ingest(
        store,
        signal("enter", "e1", email=EMAIL, idfa=IDFA),
        signal("enter", "e2", due_at=NOW + 100, email=EMAIL_2),
        signal("enter", "e3", consent="att_denied", phone=PHONE),
        signal("enter", "e4", types=("email",), idfa="c" * 64),
        signal("enter", "e5", audience="churned", expires_at=NOW + 10, email=EMAIL),
        signal("enter", "anonymous"),
    )
    await store.audiences.timers(NOW + 10)
    claims = await store.audiences.claim("A", "trial", 10, NOW + 10, LEASE)
    await store.audiences.settle("A", "trial", synced(claims), NOW + 11)
    await ingest(store, signal("enter", "e6", NOW + 12, audience="churned", email=EMAIL), now=NOW + 12)
    [claim] = await store.audiences.claim("A", "churned", 10, NOW + 12, LEASE)
    failed = Settlement(claim.user_key, claim.version, "errored", "in", NOW + 13, "invalid", "req-x")
    await store.audiences.settle("A", "churned", [failed], NOW + 13)
    await store.audiences.save("trial", {"tiktok_id": "7300000000000000001", "size_now": 1000, "size_at": NOW})


async def test_figures_and_member_views_are_the_same_documents_on_both_backends(
    tmp_path: Path, postgres_url: str
) -> None:
    documents = []
    for url in (f"sqlite:///{tmp_path / 'store.db'}", postgres_url):
        store = make_store(StoreSettings(url=url))
        await store.open()
        try:
            await _scenario(store)
            members = await store.audiences.members_of([("email", EMAIL), ("phone", PHONE)])
            documents.append((await store.audiences.figures(), members, await store.audiences.states()))
        finally:
            await store.close()
    sqlite, postgres = documents
    assert sqlite == postgres
    figures, members, states = sqlite
    assert set(figures) == {"trial", "churned"} and len(members) == 3 and states["trial"]["size_now"] == 1000


async def test_an_event_acts_once_within_the_dedup_window_and_purge_forgets_it_after(store: Store) -> None:
    await ingest(store, signal("enter", "t1", email=EMAIL))
    await ingest(store, signal("exit", "x1", email=EMAIL))
    await ingest(store, signal("enter", "t1", email=EMAIL))  # the same event sent again: already applied
    assert (await store.audiences.figures())["trial"]["members"] == 0
    await store.purge(NOW + 100, dedup_window_s=50, delivered_retention_s=50, inbound_retention_s=50, limit=1000)
    await ingest(store, signal("enter", "t1", email=EMAIL), now=NOW + 101)  # past the window: a new event
    assert (await store.audiences.figures())["trial"]["members"] == 1


async def test_a_capped_claim_sends_the_first_to_enter_and_the_next_when_a_delete_is_acknowledged(
    store: Store,
) -> None:
    users = [c * 64 for c in "abcd"]
    for n, user in enumerate(users):  # entered one second apart: a first, d last
        await ingest(store, signal("enter", f"t{n}", at=NOW + n, email=user), now=NOW + n)
    first = await store.audiences.claim("A", "trial", 100, NOW + 10, LEASE, max_members=2)
    assert sorted(c.ids["email"] for c in first) == users[:2] and {c.state for c in first} == {"in"}
    assert await store.audiences.claim("B", "trial", 100, NOW + 10, LEASE, max_members=2) == []  # adds in flight count
    await store.audiences.settle("A", "trial", synced(first, NOW + 10), NOW + 10)
    assert await store.audiences.claim("A", "trial", 100, NOW + 11, LEASE, max_members=2) == []  # TikTok holds 2
    await ingest(store, signal("exit", "x0", at=NOW + 12, email=users[0]), now=NOW + 12)
    [delete] = await store.audiences.claim("A", "trial", 100, NOW + 13, LEASE, max_members=2)
    assert delete.state == "out"  # the member it replaces still counts until TikTok lets them go
    await store.audiences.settle("A", "trial", synced([delete], NOW + 13), NOW + 13)
    [add] = await store.audiences.claim("A", "trial", 100, NOW + 14, LEASE, max_members=2)
    assert (add.state, add.ids["email"]) == ("in", users[2])  # the earliest waiting

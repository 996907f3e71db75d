"""The audience ledger shared by several replicas on one PostgreSQL: three PostgresStore instances (each its own
pool, as three processes would have) racing to create an audience, to claim members, and to apply one user's
signals. Never two audiences for one definition; never one member sent by two replicas at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from forwarder.store.postgres import PostgresStore
from tests.audience_signals import ingest, signal

pytestmark = pytest.mark.anyio
NOW = float(int(time.time()))
LEASE = 60.0


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[list[PostgresStore]]:
    stores = [PostgresStore(postgres_url, pool_size=4) for _ in range(3)]
    for store in stores:
        await store.open()
    yield stores
    for store in stores:
        await store.close()


async def test_replicas_racing_to_create_an_audience_let_exactly_one_do_it(replicas: list[PostgresStore]) -> None:
    for round_ in range(20):
        name = f"audience_{round_}"
        allowed = await asyncio.gather(
            *(replica.audiences.begin_creation(name, f"replica-{n}", NOW, LEASE) for n, replica in enumerate(replicas))
        )
        assert sorted(allowed) == [False, False, True], name
        creator = f"replica-{allowed.index(True)}"
        assert (await replicas[0].audiences.states())[name]["creating_owner"] == creator
    await replicas[1].audiences.save("audience_0", {"tiktok_id": "7300000000000000001"})
    after_lease = await asyncio.gather(
        *(r.audiences.begin_creation("audience_0", "late", NOW + 10 * LEASE, LEASE) for r in replicas)
    )
    assert after_lease == [False, False, False]  # it exists at TikTok: nobody creates it again


async def test_replicas_racing_to_claim_take_disjoint_members_and_all_of_them(replicas: list[PostgresStore]) -> None:
    users = 300
    await ingest(replicas[0], *(signal("enter", f"e{n}", NOW, email=f"{n:064d}") for n in range(users)), now=NOW)
    taken: list[set[str]] = [set() for _ in replicas]
    while True:
        rounds = await asyncio.gather(
            *(
                replica.audiences.claim(f"replica-{n}", "trial", 25, NOW, LEASE)
                for n, replica in enumerate(replicas)
                for _ in range(2)  # two sync tasks per replica, too
            )
        )
        if not any(rounds):
            break
        for index, claims in enumerate(rounds):
            keys = {claim.user_key for claim in claims}
            assert len(keys) == len(claims)
            for other in taken:
                assert keys.isdisjoint(other)
            taken[index // 2] |= keys
    assert sum(len(keys) for keys in taken) == users


async def test_one_users_signals_stored_by_three_replicas_at_once_make_one_member(
    replicas: list[PostgresStore],
) -> None:
    for round_ in range(10):
        email = f"{round_:064d}"
        await ingest(replicas[0], signal("enter", f"first-{round_}", NOW, email=email), now=NOW)
        # One event each replica received, then the user (known, out) entering again through three events at once.
        same_event = [signal("exit", f"exit-{round_}", NOW, email=email) for _ in replicas]
        await asyncio.gather(*(ingest(r, s, now=NOW) for r, s in zip(replicas, same_event, strict=True)))
        entries = [signal("enter", f"again-{round_}-{n}", NOW, email=email) for n in range(len(replicas))]
        await asyncio.gather(*(ingest(r, s, now=NOW) for r, s in zip(replicas, entries, strict=True)))
    figures = (await replicas[0].audiences.figures())["trial"]
    totals = figures["totals"]
    assert (totals["entered"], totals["exited"], figures["members"]) == (20, 10, 10)  # per user, not per replica
    claims = await replicas[1].audiences.claim("A", "trial", 100, NOW, LEASE)
    assert [claim.version for claim in claims] == [3] * 10  # enter, exit, enter: no replica wrote over another

"""The store contract, run against both backends: SQLite (one process) and PostgreSQL (several replicas)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from forwarder.errors import Outcome
from forwarder.settings import StoreSettings
from forwarder.store import IngestWrite, OutboxItem, Pause, Resolution, SQLiteStore, State, Store, make_store
from forwarder.store.base import DeadFilter, InboundRecord
from forwarder.store.sqlite import migrate
from forwarder.store.writer import writer_command
from forwarder.workers import SharedWriter

from .postgres import postgres_database

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
async def any_store(store_url: str) -> AsyncIterator[Store]:
    store = make_store(StoreSettings(url=store_url))
    await store.open()
    yield store
    await store.close()


def item(event_id: str, destination: str = "d", event: str = "Purchase", code: str | None = None) -> OutboxItem:
    return OutboxItem(
        destination,
        event,
        event_id,
        b'{"event":"Purchase","event_id":"' + event_id.encode() + b'"}',
        code,
        "default@abc",
    )


async def test_enqueue_deduplicates_within_and_across_requests(any_store: Store) -> None:
    assert await any_store.enqueue(IngestWrite([item("1"), item("2"), item("1")]), NOW) == [True, True, False]
    assert await any_store.enqueue(IngestWrite([item("2"), item("3"), item("2", event="Subscribe")]), NOW) == [
        False,
        True,
        True,
    ]
    stats = (await any_store.stats(NOW))["destinations"]["d"]
    assert (stats["accepted"], stats["duplicates"], stats["pending"]) == (4, 2, 4)
    assert await any_store.backlog() == 4


async def test_claim_leases_and_fences(any_store: Store) -> None:
    await any_store.enqueue(IngestWrite([item(str(i)) for i in range(5)]), NOW)
    first = await any_store.claim_due("A", "d", 3, NOW, 30)
    assert [c.event_id for c in first] == ["0", "1", "2"] and all(c.attempts == 1 for c in first)
    second = await any_store.claim_due("B", "d", 10, NOW, 30)
    assert {c.event_id for c in second} == {"3", "4"}  # never what A holds
    assert await any_store.claim_due("B", "d", 10, NOW + 10, 30) == []
    reclaimed = await any_store.claim_due("B", "d", 10, NOW + 31, 30)  # A's lease expired
    assert {c.event_id for c in reclaimed} == {"0", "1", "2", "3", "4"}
    late = Resolution([c.id for c in first], State.DELIVERED, Outcome(200, 0, "OK", "req-a"))
    assert await any_store.resolve("A", [late], NOW + 32) == 0  # fenced
    done = Resolution([c.id for c in reclaimed], State.DELIVERED, Outcome(200, 0, "OK", "req-b"))
    assert await any_store.resolve("B", [done], NOW + 33) == 5
    assert await any_store.claim_due("C", "d", 10, NOW + 10_000, 30) == []  # delivered is never claimed again
    stats = (await any_store.stats(NOW + 33))["destinations"]["d"]
    assert (stats["delivered"], stats.get("pending", 0), stats.get("in_flight", 0)) == (5, 0, 0)


async def test_retry_failure_release_and_ledger(any_store: Store) -> None:
    await any_store.enqueue(
        IngestWrite([item("r"), item("f")], inbound=[InboundRecord("app", "r", "PURCHASE", b'{"event":"PURCHASE"}')]),
        NOW,
    )
    claimed = {c.event_id: c for c in await any_store.claim_due("A", "d", 10, NOW, 30)}
    await any_store.resolve(
        "A",
        [
            Resolution([claimed["r"].id], State.PENDING, Outcome(503, None, "down"), next_attempt_at=NOW + 60),
            Resolution(
                [claimed["f"].id],
                State.FAILED,
                Outcome(200, 40002, "bad value", "req-f"),
                earlier=[Outcome(200, 40002, "batch refused", "req-batch")],
            ),
        ],
        NOW + 1,
    )
    assert await any_store.claim_due("A", "d", 10, NOW + 30, 30) == []  # not due yet
    [again] = await any_store.claim_due("A", "d", 10, NOW + 61, 30)
    assert again.event_id == "r" and again.attempts == 2
    await any_store.release("A", [again.id])
    [third] = await any_store.claim_due("A", "d", 10, NOW + 62, 30)
    assert third.attempts == 2  # a release does not count as an attempt
    ledger = await any_store.ledger("f")
    assert ledger["deliveries"][0]["state"] == "failed"
    assert [a["request_id"] for a in ledger["deliveries"][0]["attempts"]] == ["req-batch", "req-f"]
    assert (await any_store.ledger("r"))["received"][0]["event"] == "PURCHASE"
    errors = await any_store.recent_errors(10)
    assert {e["event_id"] for e in errors} == {"r", "f"}
    stats = (await any_store.stats(NOW + 62))["destinations"]["d"]
    assert stats["last_error"]["message"] in ("down", "bad value") and stats["dead"] == 1


async def test_dead_letters_filter_and_replay(any_store: Store) -> None:
    await any_store.enqueue(IngestWrite([item("a"), item("b", event="StartTrial"), item("c", "other")]), NOW)
    for destination in ("d", "other"):
        claimed = await any_store.claim_due("A", destination, 10, NOW, 30)
        await any_store.resolve(
            "A", [Resolution([c.id for c in claimed], State.FAILED, Outcome(200, 40002, "bad", "req"))], NOW + 5
        )
    assert len(await any_store.dead_letters(DeadFilter())) == 3
    assert [d["event_id"] for d in await any_store.dead_letters(DeadFilter(destination="d", event="StartTrial"))] == [
        "b"
    ]
    assert await any_store.dead_letters(DeadFilter(tiktok_code=40100)) == []
    assert await any_store.dead_letters(DeadFilter(since=NOW + 6)) == []
    assert await any_store.replay_dead(DeadFilter(destination="d"), NOW + 10) == 2
    replayed = await any_store.claim_due("A", "d", 10, NOW + 10, 30)
    assert {c.event_id for c in replayed} == {"a", "b"} and all(c.attempts == 1 for c in replayed)


async def test_pauses(any_store: Store) -> None:
    pause = Pause("d", "Access token is incorrect or has been revoked.", 40105, NOW, NOW + 30, 0)
    await any_store.pause(pause)
    assert (await any_store.pauses())["d"] == pause
    assert (await any_store.stats(NOW))["destinations"]["d"]["paused"]["tiktok_code"] == 40105
    await any_store.resume("d")
    assert await any_store.pauses() == {}


async def test_shared_token_bucket(any_store: Store) -> None:
    waits = [await any_store.take_token("d", 2.0, 2.0, NOW) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] == pytest.approx(0.5)
    assert await any_store.take_token("d", 2.0, 2.0, NOW + 0.5) == 0.0
    assert await any_store.take_token("other", 2.0, 2.0, NOW) == 0.0  # per destination


async def test_key_token_buckets_are_shared_by_every_process_on_the_store(store_url: str) -> None:
    """Two workers on one SQLite writer, or two replicas on PostgreSQL, draw from one bucket per ingest key."""
    with contextlib.ExitStack() as stack:
        if store_url.startswith("sqlite:///"):
            path = Path(store_url.removeprefix("sqlite:///"))
            migrate(path, "FULL")
            socket_path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "writer.sock"
            writer = SharedWriter(writer_command(path, "FULL", 256, socket_path), socket_path)
            writer.start()
            stack.callback(writer.stop)
            stores: list[Store] = [SQLiteStore(path, writer_socket=socket_path) for _ in range(2)]
        else:
            stores = [make_store(StoreSettings(url=store_url)) for _ in range(2)]
        for store in stores:
            await store.open()
        try:
            waits = [await stores[i % 2].take_key_token("key", 2.0, 3.0, NOW) for i in range(4)]
            assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] == pytest.approx(0.5)  # one burst of 3, not two
            assert await stores[1].take_key_token("key", 2.0, 3.0, NOW + 0.5) == 0.0
            assert await stores[0].take_key_token("other", 2.0, 3.0, NOW) == 0.0  # per key
        finally:
            for store in stores:
                await store.close()


async def test_purge_keeps_what_is_still_needed(any_store: Store) -> None:
    await any_store.enqueue(
        IngestWrite([item("old"), item("new")], inbound=[InboundRecord("s", "old", "X", b"{}")]), NOW
    )
    claimed = await any_store.claim_due("A", "d", 1, NOW, 30)
    await any_store.resolve("A", [Resolution([claimed[0].id], State.DELIVERED, Outcome(200, 0, "OK"))], NOW)
    removed = await any_store.purge(
        NOW + 100, dedup_window_s=50, delivered_retention_s=50, inbound_retention_s=50, limit=1000
    )
    assert removed >= 3  # two dedup keys, one delivered row, one inbound record
    assert await any_store.claim_due("A", "d", 10, NOW + 100, 30)  # the pending one stays
    assert await any_store.recent_inbound(10) == []


async def test_concurrent_enqueues_of_the_same_events_store_each_once(any_store: Store) -> None:
    results = await asyncio.gather(
        *(any_store.enqueue(IngestWrite([item(str(i)) for i in range(50)]), NOW) for _ in range(3))
    )
    assert sum(sum(r) for r in results) == 50


async def test_ping_series_and_size(any_store: Store) -> None:
    assert await any_store.ping()
    await any_store.enqueue(IngestWrite([item("1")]), NOW)
    assert await any_store.size_bytes() > 0
    series: list[Any] = await any_store.series(NOW - 600)
    assert ("d", "accepted", 1) in {(name, metric, value) for _, name, metric, value in series}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


async def test_postgres_notifies_other_replicas_of_new_events(postgres_url: str) -> None:
    from forwarder.store.postgres import PostgresStore

    url = postgres_url
    listener, writer = PostgresStore(url), PostgresStore(url)
    await listener.open()
    await writer.open()
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        assert await listener.listen(heard.put_nowait)
        await writer.enqueue(IngestWrite([item("n1", "alpha"), item("n2", "beta")]), NOW)
        got = {await asyncio.wait_for(heard.get(), 5), await asyncio.wait_for(heard.get(), 5)}
        assert got == {"alpha", "beta"}
        await writer.enqueue(IngestWrite([item("n1", "alpha")]), NOW)  # a duplicate wakes nobody
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(heard.get(), 0.5)
    finally:
        await listener.close()
        await writer.close()


async def test_sqlite_writer_process_killed_is_replaced_and_nothing_committed_is_lost(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "outbox.db")
    await store.open()
    try:
        assert await store.enqueue(IngestWrite([item("before")]), NOW) == [True]
        writer = store._writer
        assert writer is not None and writer._process is not None
        writer._process.kill()
        await writer._process.wait()
        await asyncio.sleep(0.1)  # the store notices the writer is gone
        # The next write starts a new writer; what the old one committed is still there (dedup says so).
        assert await store.enqueue(IngestWrite([item("before"), item("after")]), NOW) == [False, True]
        claimed = await store.claim_due("me", "d", 10, NOW, 30)
        assert [c.event_id for c in claimed] == ["before", "after"]
    finally:
        await store.close()


async def test_sqlite_ping_replaces_a_writer_that_went_away(tmp_path: Path) -> None:
    """A ready probe must not report the store down until some write happens to restart the writer."""
    store = SQLiteStore(tmp_path / "outbox.db")
    await store.open()
    try:
        writer = store._writer
        assert writer is not None and writer._process is not None
        writer._process.kill()
        await writer._process.wait()
        await asyncio.sleep(0.1)  # the store notices the writer is gone
        assert not writer.is_alive()
        assert await store.ping()
        assert writer.is_alive()
    finally:
        await store.close()


async def test_upgrade_to_dedup_keys_that_lead_to_outbox_rows_keeps_dedup_and_the_ledger(tmp_path: Path) -> None:
    """A database written before m007 (dedup keys without row ids, an event_id index on the outbox)."""
    from forwarder.store.sqlite import migrations

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m007_dedup_keys_lead_to_outbox_rows")
    columns = "destination, event, event_id, payload, state, next_attempt_at, created_at"
    old.execute(f"INSERT INTO outbox ({columns}) VALUES ('d', 'Purchase', 'kept', x'7b7d', 0, 0, {NOW})")
    old.execute(f"INSERT INTO outbox ({columns}) VALUES ('d', 'Purchase', 'dead-long-ago', x'7b7d', 3, 0, 1)")
    old.execute(f"INSERT INTO dedup_keys VALUES ('d', 'Purchase', 'kept', {NOW})")
    old.execute(f"INSERT INTO dedup_keys VALUES ('d', 'Purchase', 'delivered-and-purged', {NOW})")
    old.conn.commit()
    old.close()

    store = SQLiteStore(path)
    await store.open()
    try:
        assert "outbox_event_id" not in {name for (name,) in await store.query("SELECT name FROM sqlite_master")}
        # Every key still deduplicates; the dead letter whose key had expired got one back.
        again = [item("kept"), item("delivered-and-purged"), item("dead-long-ago"), item("new")]
        assert await store.enqueue(IngestWrite(again), NOW) == [False, False, False, True]
        for event_id in ("kept", "dead-long-ago", "new"):
            ledger = await store.ledger(event_id)
            assert [d["event"] for d in ledger["deliveries"]] == ["Purchase"], event_id
    finally:
        await store.close()


async def test_purge_keeps_the_dedup_keys_of_undelivered_events(any_store: Store) -> None:
    await any_store.enqueue(IngestWrite([item("waiting"), item("delivered")]), NOW)
    claimed = await any_store.claim_due("me", "d", 10, NOW, 30)
    done = [c.id for c in claimed if c.event_id == "delivered"]
    await any_store.resolve("me", [Resolution(done, State.DELIVERED, Outcome(200, 0, "OK", "r1"))], NOW)
    later = NOW + 8 * 86400  # past the dedup window, before the retention of delivered rows ends
    await any_store.purge(
        later, dedup_window_s=7 * 86400, delivered_retention_s=30 * 86400, inbound_retention_s=86400, limit=1000
    )
    again = await any_store.enqueue(IngestWrite([item("waiting"), item("delivered")]), later)
    assert again == [False, True]  # the event still held is a duplicate; the delivered one's key expired
    assert (await any_store.ledger("waiting"))["deliveries"]

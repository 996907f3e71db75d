"""The store contract, run against both backends: SQLite (one process) and PostgreSQL (several replicas)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from forwarder.errors import Outcome
from forwarder.multiprocess import SharedWriter
from forwarder.settings import StoreSettings
from forwarder.store import (
    IngestWrite,
    NotForwarded,
    OrderClaim,
    OutboxItem,
    Pause,
    Resolution,
    SQLiteStore,
    State,
    Store,
    Stored,
    make_store,
)
from forwarder.store.base import DeadFilter, InboundRecord
from forwarder.store.sqlite.migrations import migrate
from forwarder.store.sqlite.writer_client import writer_command
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


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
    assert {e["event_id"]: e["state"] for e in errors} == {"r": "in_flight", "f": "failed"}  # where each is now
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
    assert [d["destination"] for d in await any_store.dead_letters(DeadFilter(event_id="c"))] == ["other"]
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
    from forwarder.store.sqlite.migrations import migrations

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


def report(
    event_id: str,
    order_id: str,
    source: str,
    dedups_with: tuple[str, ...] = (),
    *,
    value: float | None = 4.99,
    currency: str | None = "USD",
    event: str = "Purchase",
) -> tuple[OutboxItem, OrderClaim]:
    """One item that carries a store transaction id, as routing plans it for `source`."""
    return item(event_id, event=event), OrderClaim(0, order_id, source, (source, *dedups_with), value, currency)


def orders_write(*reports: tuple[OutboxItem, OrderClaim]) -> IngestWrite:
    return IngestWrite(
        [entry for entry, _ in reports], orders=[claim._replace(item=k) for k, (_, claim) in enumerate(reports)]
    )


async def test_an_order_is_deduplicated_only_against_the_sources_a_report_names(any_store: Store) -> None:
    assert await any_store.enqueue(orders_write(report("af-1", "T1", "appsflyer")), NOW) == [Stored.NEW]
    # The SDK names no other source: AppsFlyer's earlier report of T1 cannot suppress it.
    assert await any_store.enqueue(orders_write(report("sdk-1", "T1", "sdk")), NOW) == [Stored.NEW]
    # RevenueCat dedups with the SDK: the SDK's report came first, with the same content.
    assert await any_store.enqueue(orders_write(report("rc-1", "T1", "revenuecat", ("sdk",))), NOW + 1) == [
        Stored.ORDER_DUPLICATE
    ]
    # A source always dedups against itself; a resend of a sent report is a plain duplicate.
    assert await any_store.enqueue(orders_write(report("sdk-2", "T1", "sdk"), report("sdk-1", "T1", "sdk")), NOW) == [
        Stored.ORDER_DUPLICATE,
        Stored.DUPLICATE,
    ]
    claimed = await any_store.claim_due("A", "d", 10, NOW + 2, 30)
    assert sorted(c.event_id for c in claimed) == ["af-1", "sdk-1"]
    [match] = (await any_store.ledger("rc-1"))["orders"]
    assert (match["kind"], match["status"], match["first_event_id"], match["first_source"]) == (
        "duplicate",
        "dropped",
        "sdk-1",
        "sdk",
    )
    assert [m["event_id"] for m in (await any_store.ledger("sdk-1"))["orders"]] == ["rc-1", "sdk-2"]
    stats = (await any_store.stats(NOW))["destinations"]["d"]
    assert (stats["accepted"], stats["order_duplicates"], stats["duplicates"]) == (2, 2, 1)


async def test_a_conflicting_report_of_an_order_is_held_recorded_and_can_be_released(any_store: Store) -> None:
    assert await any_store.enqueue(orders_write(report("sdk-1", "T2", "sdk", ("revenuecat",))), NOW) == [Stored.NEW]
    conflicting = report("rc-1", "T2", "revenuecat", ("sdk",), value=9.99, currency="EUR")
    assert await any_store.enqueue(orders_write(conflicting), NOW + 1) == [Stored.HELD]
    assert await any_store.enqueue(orders_write(conflicting), NOW + 2) == [Stored.DUPLICATE]  # a resend: no new row
    assert [c.event_id for c in await any_store.claim_due("A", "d", 10, NOW + 3, 30)] == ["sdk-1"]  # held: not sent
    [conflict] = await any_store.order_conflicts(10)
    assert (conflict["order_id"], conflict["source"], conflict["first_source"], conflict["status"]) == (
        "T2",
        "revenuecat",
        "sdk",
        "held",
    )
    assert conflict["differs"] == "value 4.99 -> 9.99, currency USD -> EUR"
    for event_id in ("sdk-1", "rc-1"):
        assert [m["id"] for m in (await any_store.ledger(event_id))["orders"]] == [conflict["id"]], event_id
    assert (await any_store.ledger("rc-1"))["deliveries"][0]["state"] == "held"
    stats = (await any_store.stats(NOW))["destinations"]["d"]
    assert (stats["order_conflicts"], stats["held"]) == (1, 1)
    assert await any_store.backlog() == 1  # the sent one: a held report is not waiting for delivery

    assert await any_store.release_held(conflict["id"], NOW + 10)
    assert not await any_store.release_held(conflict["id"], NOW + 11)  # once
    assert [c.event_id for c in await any_store.claim_due("A", "d", 10, NOW + 10, 30)] == ["rc-1"]
    assert (await any_store.order_conflicts(10))[0]["status"] == "released"
    assert await any_store.backlog() == 2


async def test_a_different_tiktok_event_for_one_order_is_a_conflict_but_one_report_may_map_to_several(
    any_store: Store,
) -> None:
    first, second = report("sdk-1", "T3", "sdk"), report("sdk-1", "T3", "sdk", event="Subscribe")
    assert await any_store.enqueue(orders_write(first, second), NOW) == [Stored.NEW, Stored.NEW]
    assert await any_store.enqueue(orders_write(report("sdk-2", "T3", "sdk", event="CompletePayment")), NOW) == [
        Stored.HELD
    ]
    [conflict] = await any_store.order_conflicts(10)
    assert conflict["differs"] == "event Purchase -> CompletePayment"


async def test_reports_of_one_order_stored_at_once_by_two_replicas_send_one(store_url: str) -> None:
    replicas = [make_store(StoreSettings(url=store_url)) for _ in range(2)]
    for replica in replicas:
        await replica.open()
    try:
        orders = [f"T{n}" for n in range(25)]
        results = await asyncio.gather(
            *(
                replica.enqueue(orders_write(report(f"{source}-{order}", order, source, (other,))), NOW)
                for order in orders
                for replica, source, other in ((replicas[0], "sdk", "rc"), (replicas[1], "rc", "sdk"))
            )
        )
        assert sum(what is Stored.NEW for [what] in results) == len(orders)
        assert sum(what is Stored.ORDER_DUPLICATE for [what] in results) == len(orders)
    finally:
        for replica in replicas:
            await replica.close()


async def test_order_keys_leave_with_the_dedup_window_and_held_reports_expire(any_store: Store) -> None:
    await any_store.enqueue(orders_write(report("sdk-1", "T4", "sdk")), NOW)
    await any_store.enqueue(orders_write(report("sdk-2", "T4", "sdk", value=1.0)), NOW)
    later = NOW + 8 * 86400
    await any_store.purge(
        later, dedup_window_s=7 * 86400, delivered_retention_s=30 * 86400, inbound_retention_s=86400, limit=1000
    )
    assert (await any_store.order_conflicts(10))[0]["status"] == "expired"
    assert (await any_store.stats(later))["destinations"]["d"].get("held", 0) == 0
    assert await any_store.enqueue(orders_write(report("sdk-3", "T4", "sdk")), later) == [Stored.NEW]


async def _still_deduplicated_after_the_upgrade(store: Store) -> None:
    """A populated pre-upgrade store held order `T9` as event_id `order_T9` (pending, 5 USD) and a plain event."""
    assert await store.enqueue(IngestWrite([item("plain"), item("order_T9")]), NOW) == [Stored.DUPLICATE] * 2
    # Orders stored before the upgrade dedup every source's reports, as they did then; a different value is held.
    assert await store.enqueue(orders_write(report("sdk-new", "T9", "sdk", value=5.0)), NOW) == [Stored.ORDER_DUPLICATE]
    assert await store.enqueue(orders_write(report("rc-new", "T9", "rc", value=7.0)), NOW) == [Stored.HELD]
    assert [m["event_id"] for m in (await store.ledger("order_T9"))["orders"]] == ["sdk-new", "rc-new"]
    assert [d["state"] for d in (await store.ledger("order_T9"))["deliveries"]] == ["pending"]
    assert await store.enqueue(orders_write(report("sdk-other", "T10", "sdk")), NOW) == [Stored.NEW]


ORDER_PAYLOAD = b'{"event":"Purchase","event_id":"order_T9","properties":{"value":5,"currency":"USD"}}'


async def test_upgrade_to_order_keys_keeps_the_orders_already_stored_deduplicating(tmp_path: Path) -> None:
    """A SQLite database written before m008, when an order id replaced the event_id."""
    from forwarder.store.sqlite.migrations import migrations

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m008_order_keys")
    columns = "id, destination, event, event_id, payload, state, next_attempt_at, created_at"
    old.execute(f"INSERT INTO outbox ({columns}) VALUES (1, 'd', 'Purchase', 'plain', x'7b7d', 0, 0, {NOW})")
    old.execute(
        f"INSERT INTO outbox ({columns}) VALUES (2, 'd', 'Purchase', 'order_T9', ?, 0, 0, {NOW})", [ORDER_PAYLOAD]
    )
    old.execute(f"INSERT INTO dedup_keys VALUES ('plain', 'd', 'Purchase', {NOW}, 1)")
    old.execute(f"INSERT INTO dedup_keys VALUES ('order_T9', 'd', 'Purchase', {NOW}, 2)")
    old.conn.commit()
    old.close()

    store = SQLiteStore(path)
    await store.open()
    try:
        await _still_deduplicated_after_the_upgrade(store)
    finally:
        await store.close()


async def test_postgres_upgrade_to_order_keys_keeps_the_orders_already_stored_deduplicating(postgres_url: str) -> None:
    import asyncpg

    from forwarder.store.postgres import MIGRATIONS, PostgresStore

    connection = await asyncpg.connect(postgres_url)
    try:
        name, schema = MIGRATIONS[0]
        await connection.execute(schema)
        await connection.execute("CREATE TABLE forwarder_migrations (name text PRIMARY KEY, applied_at timestamptz)")
        await connection.execute("INSERT INTO forwarder_migrations VALUES ($1, now())", name)
        for event_id, payload in (("plain", b"{}"), ("order_T9", ORDER_PAYLOAD)):
            await connection.execute(
                """INSERT INTO outbox (destination, event, event_id, payload, state, next_attempt_at, created_at)
                   VALUES ('d', 'Purchase', $1, $2, 0, 0, $3)""",
                event_id,
                payload,
                NOW,
            )
            await connection.execute("INSERT INTO dedup_keys VALUES ('d', 'Purchase', $1, $2)", event_id, NOW)
    finally:
        await connection.close()
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        await _still_deduplicated_after_the_upgrade(store)
    finally:
        await store.close()


@pytest.mark.anyio
async def test_old_names_are_purged(store_url: str) -> None:
    store = make_store(make_settings(Path("/unused"), store={"url": store_url}).store)
    await store.open()
    try:
        old = IngestWrite(items=[], not_forwarded=[NotForwarded("OLD", "s", "unmapped", 2, "e1")])
        await store.enqueue(old, now=1_000.0)
        item = OutboxItem("d", "Purchase", "e2", b"{}")
        await store.enqueue(
            IngestWrite(items=[item], not_forwarded=[NotForwarded("NEW", "s", "unmapped", 1, "e2")]), 1e6
        )
        assert [row["event"] for row in await store.not_forwarded(10)] == ["OLD", "NEW"]  # most frequent first
        await store.purge(1e6, dedup_window_s=1e9, delivered_retention_s=1e9, inbound_retention_s=1e9, limit=100)
        assert [row["event"] for row in await store.not_forwarded(10)] == ["NEW"]
    finally:
        await store.close()

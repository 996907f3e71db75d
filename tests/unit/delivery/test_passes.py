"""One delivery pass at a time, on a real SQLite store, with TikTok scripted by respx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from forwarder.delivery.passes import Delivery, deliver_due
from forwarder.settings import DeliverySettings, Settings
from forwarder.store import IngestWrite, OutboxItem, SQLiteStore, State
from forwarder.tiktok.client import EventsApiClient
from forwarder.tiktok.events_api import events_api_destinations
from tests.conftest import ACCESS_TOKEN, TIKTOK, TRACK_URL, tiktok_answer

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def item(event_id: str, destination: str = "app_main", code: str | None = None) -> OutboxItem:
    payload = {
        "event": "StartTrial",
        "event_time": 1_799_999_000,
        "event_id": event_id,
        "user": {},
        "properties": {},
        "app": {"app_id": "com.example.app"},
    }
    return OutboxItem(destination, "StartTrial", event_id, json.dumps(payload).encode(), code)


def delivery_for(
    store: SQLiteStore,
    settings: Settings,
    handler: Callable[[httpx.Request], Any],
    clock: Clock,
    **policy: Any,
) -> Delivery:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Delivery(
        store=store,
        destinations=events_api_destinations(settings.destinations, EventsApiClient(http, TIKTOK)),
        policy=settings.delivery.model_copy(update=policy),
        owner="test-owner",
        clock=clock,
    )


def router_with(*responses: Any) -> respx.Router:
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=list(responses))
    return router


async def states(store: SQLiteStore) -> dict[str, int]:
    return {event_id: state for event_id, state in await store.query("SELECT event_id, state FROM outbox")}


def bodies(router: respx.Router) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in router.calls]


async def test_batches_are_grouped_by_destination_and_test_code(store: SQLiteStore, settings: Settings) -> None:
    settings.destinations["web_b"] = settings.destinations["app_main"].model_copy(update={"event_source_id": "B"})
    await store.enqueue(IngestWrite([item("1"), item("2", code="T1"), item("3"), item("4", "web_b")]), 1.0)
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda r: tiktok_answer(0, "OK"))
    assert await deliver_due(delivery_for(store, settings, router.async_handler, Clock())) == 4
    sent = sorted(
        ((b["event_source_id"], b.get("test_event_code"), [d["event_id"] for d in b["data"]]) for b in bodies(router)),
        key=str,
    )
    assert sent == [("7301234567890123456", "T1", ["2"]), ("7301234567890123456", None, ["1", "3"]), ("B", None, ["4"])]
    for call in router.calls:
        assert call.request.headers["Access-Token"] == ACCESS_TOKEN
        assert call.request.headers["Content-Type"] == "application/json"


async def test_no_request_carries_more_than_1000_events(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item(str(i)) for i in range(2500)]), 1.0)
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda r: tiktok_answer(0, "OK"))
    delivery = delivery_for(store, settings, router.async_handler, Clock(), batch_size=1000)
    while await deliver_due(delivery):
        pass
    assert [len(b["data"]) for b in bodies(router)] == [1000, 1000, 500]
    assert set((await states(store)).values()) == {State.DELIVERED}


def test_batch_size_above_tiktoks_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="less than or equal to 1000"):
        DeliverySettings(batch_size=1001)


async def test_http_200_with_code_40002_is_not_delivered(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    answer = tiktok_answer(40002, "Invalid value for event_id: not a valid string.", request_id="req-40002")
    router = router_with(answer)
    await deliver_due(delivery_for(store, settings, router.async_handler, Clock()))
    assert await states(store) == {"1": State.FAILED}
    rows = await store.query("SELECT last_http_status, last_code, last_message, last_request_id FROM outbox")
    assert rows == [(200, 40002, "Invalid value for event_id: not a valid string.", "req-40002")]
    stats = await store.stats(Clock()())
    assert stats["destinations"]["app_main"].get("delivered", 0) == 0
    assert stats["destinations"]["app_main"]["failed"] == 1
    assert stats["destinations"]["app_main"]["last_error"]["request_id"] == "req-40002"


async def test_permanent_failure_is_recorded_with_request_id(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    router = router_with(
        tiktok_answer(40002, "Batch.0.properties.contents.0.content_id: Not a valid string", request_id="req-perm")
    )
    await deliver_due(delivery_for(store, settings, router.async_handler, Clock()))
    attempts = await store.query("SELECT attempt, http_status, tiktok_code, request_id FROM attempts")
    assert attempts == [(1, 200, 40002, "req-perm")]


async def test_retry_then_success(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    router = router_with(
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        tiktok_answer(40100, "Too many requests. Please retry in some time.", request_id="req-rl"),
        httpx.ReadTimeout("read timed out"),
        tiktok_answer(0, "OK", request_id="req-ok"),
    )
    clock = Clock()
    delivery = delivery_for(store, settings, router.async_handler, clock)
    for _ in range(4):
        assert await deliver_due(delivery) == 1
        assert await deliver_due(delivery) == 0  # not due again until the backoff passed
        clock.now += 60
    assert await states(store) == {"1": State.DELIVERED}
    attempts = await store.query("SELECT attempt, http_status, tiktok_code, request_id FROM attempts ORDER BY id")
    # A rate limit (40100) is not an attempt: the next request is attempt 2 again.
    assert attempts == [(1, 503, None, None), (1, 200, 40100, "req-rl"), (2, None, None, None), (3, 200, 0, "req-ok")]
    stats = (await store.stats(clock()))["destinations"]["app_main"]
    assert (stats["delivered"], stats["retried"]) == (1, 3)


async def test_backoff_grows_and_honours_retry_after(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    router = router_with(httpx.Response(429, headers={"Retry-After": "30"}))
    clock = Clock()
    delivery = delivery_for(store, settings, router.async_handler, clock, retry_base_s=1, retry_cap_s=600)
    await deliver_due(delivery)
    [(next_at,)] = await store.query("SELECT next_attempt_at FROM outbox")
    assert next_at >= clock.now + 30
    assert delivery.backoff_s(1, None) <= 1 and delivery.backoff_s(20, None) <= 600


async def test_gives_up_after_max_attempts(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    router = router_with(*[httpx.Response(502)] * 3)
    clock = Clock()
    delivery = delivery_for(store, settings, router.async_handler, clock, max_attempts=3, max_age_h=1)
    for _ in range(3):
        await deliver_due(delivery)
        clock.now += 3600
    assert await states(store) == {"1": State.FAILED}
    [(message,)] = await store.query("SELECT last_message FROM outbox")
    assert message.startswith("gave up after 3 attempts")


async def test_attempts_alone_do_not_dead_letter_a_young_event(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1_800_000_000.0)
    router = router_with(*[httpx.Response(502)] * 4 + [tiktok_answer(0, "OK")])
    clock = Clock()
    delivery = delivery_for(store, settings, router.async_handler, clock, max_attempts=2, max_age_h=20)
    for _ in range(3):
        await deliver_due(delivery)
        clock.now += 600
    assert await states(store) == {"1": State.PENDING}  # 3 attempts > 2, but only 20 minutes old
    clock.now += 20 * 3600
    await deliver_due(delivery)
    assert await states(store) == {"1": State.FAILED}  # both limits passed


async def test_poisoned_event_with_index_fails_alone(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item(str(i)) for i in range(5)]), 1.0)
    router = router_with(
        tiktok_answer(40002, "Batch.2.properties.contents.0.content_id: Not a valid string", request_id="req-bad"),
        tiktok_answer(0, "OK", request_id="req-rest"),
    )
    await deliver_due(delivery_for(store, settings, router.async_handler, Clock()))
    assert await states(store) == {"0": 2, "1": 2, "2": State.FAILED, "3": 2, "4": 2}
    assert [len(b["data"]) for b in bodies(router)] == [5, 4]
    # Every attempt is in the ledger: the delivered ones show the failed batch request too.
    history = await store.query(
        "SELECT request_id FROM attempts JOIN outbox ON outbox.id = outbox_id WHERE event_id = '3' ORDER BY attempts.id"
    )
    assert history == [("req-bad",), ("req-rest",)]


async def test_poisoned_event_without_index_is_found_by_bisection(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item(str(i)) for i in range(8)]), 1.0)

    def tiktok(request: httpx.Request) -> httpx.Response:
        ids = [d["event_id"] for d in json.loads(request.content)["data"]]
        return tiktok_answer(40002, "Invalid value.") if "5" in ids else tiktok_answer(0, "OK")

    await deliver_due(delivery_for(store, settings, tiktok, Clock()))
    final = await states(store)
    assert final.pop("5") == State.FAILED
    assert set(final.values()) == {State.DELIVERED}


async def test_unconfigured_destination_stays_pending(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1", destination="removed")]), 1.0)
    router = respx.Router()
    await deliver_due(delivery_for(store, settings, router.async_handler, Clock()))
    assert await states(store) == {"1": State.PENDING}
    assert not router.calls


async def test_expired_lease_is_reclaimed_and_stale_owner_is_fenced(store: SQLiteStore) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    [first] = await store.claim_due("A", "app_main", 10, now=100.0, lease_s=30)
    assert await store.claim_due("B", "app_main", 10, now=120.0, lease_s=30) == []  # lease still held
    [second] = await store.claim_due("B", "app_main", 10, now=131.0, lease_s=30)
    assert second.id == first.id and second.attempts == 2
    from forwarder.errors import Outcome
    from forwarder.store import Resolution

    late = Resolution([first.id], State.DELIVERED, Outcome(200, 0, "OK", "req-a"))
    assert await store.resolve("A", [late], now=140.0) == 0  # A lost its lease: its ack is ignored
    assert await store.resolve("B", [late], now=141.0) == 1


async def test_cancelled_pass_gives_its_rows_back(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    task = asyncio.create_task(deliver_due(delivery_for(store, settings, hang, Clock())))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = await store.query("SELECT state, attempts, lease_owner FROM outbox")
    assert rows == [(State.PENDING, 0, None)]


async def test_unknown_code_is_retried_a_few_times_then_failed(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    router = router_with(*[tiktok_answer(41999, "brand new error")] * 3)
    clock = Clock()
    delivery = delivery_for(store, settings, router.async_handler, clock, unknown_code_max_attempts=3)
    for _ in range(3):
        await deliver_due(delivery)
        clock.now += 3600
    assert await states(store) == {"1": State.FAILED}
    assert len(router.calls) == 3


async def test_revoked_token_pauses_only_that_destination_until_a_probe_succeeds(
    store: SQLiteStore, settings: Settings
) -> None:
    settings.destinations["other"] = settings.destinations["app_main"].model_copy(
        update={"event_source_id": "OTHER", "access_token": SecretStr("good-token")}
    )
    await store.enqueue(IngestWrite([item(f"a{i}") for i in range(5)] + [item("b1", "other")]), 1.0)
    revoked = {ACCESS_TOKEN}

    def tiktok(request: httpx.Request) -> httpx.Response:
        if request.headers["Access-Token"] in revoked:
            return tiktok_answer(40105, "Access token is incorrect or has been revoked.", request_id="req-auth")
        return tiktok_answer(0, "OK")

    clock = Clock()
    delivery = delivery_for(store, settings, tiktok, clock, pause_probe_base_s=30)
    await deliver_due(delivery)
    assert await states(store) == {"a0": 0, "a1": 0, "a2": 0, "a3": 0, "a4": 0, "b1": State.DELIVERED}
    pause = (await store.pauses())["app_main"]
    assert (pause.code, pause.reason) == (40105, "Access token is incorrect or has been revoked.")
    [(attempts,)] = set(await store.query("SELECT attempts FROM outbox WHERE destination = 'app_main'"))
    assert attempts == 0  # the token, not the events, was at fault

    await store.enqueue(IngestWrite([item("b2", "other")]), clock.now)
    assert await deliver_due(delivery) == 1  # paused: only the other destination moves
    clock.now += 31
    assert await deliver_due(delivery) == 1  # the probe: one event, refused again
    assert (await store.pauses())["app_main"].probes == 1
    clock.now += 61
    revoked.clear()  # the advertiser fixed the permission
    assert await deliver_due(delivery) == 1  # the probe succeeds ...
    assert "app_main" not in await store.pauses()
    assert await deliver_due(delivery) == 4  # ... and the rest follows
    assert set((await states(store)).values()) == {State.DELIVERED}
    stats = (await store.stats(clock()))["destinations"]["app_main"]
    assert "paused" not in stats


async def test_paused_destination_shows_in_stats(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    router = router_with(tiktok_answer(40001, "No permission to operate pixel code.", request_id="req-perm"))
    await deliver_due(delivery_for(store, settings, router.async_handler, Clock()))
    paused = (await store.stats(Clock()()))["destinations"]["app_main"]["paused"]
    assert paused["reason"] == "No permission to operate pixel code."
    assert paused["tiktok_code"] == 40001


async def test_repeated_failures_open_the_circuit_then_a_probe_closes_it(
    store: SQLiteStore, settings: Settings
) -> None:
    await store.enqueue(IngestWrite([item(str(i)) for i in range(3)]), 1.0)
    healthy = False

    def tiktok(request: httpx.Request) -> httpx.Response:
        return tiktok_answer(0, "OK") if healthy else httpx.Response(503, text="down")

    clock = Clock()
    delivery = delivery_for(
        store, settings, tiktok, clock, breaker_failures=3, breaker_cooldown_s=30, retry_base_s=1, retry_cap_s=1
    )
    for _ in range(3):
        assert await deliver_due(delivery) == 3
        clock.now += 2
    pause = (await store.pauses())["app_main"]
    assert pause.kind == "breaker" and "circuit open after 3 failed passes" in pause.reason
    assert await deliver_due(delivery) == 0  # open: nothing is sent
    clock.now += 31
    assert await deliver_due(delivery) == 1  # half-open: one probe, still failing
    assert (await store.pauses())["app_main"].probes == 1
    clock.now += 61
    healthy = True
    assert await deliver_due(delivery) == 1  # the probe succeeds: closed
    assert "app_main" not in await store.pauses()
    assert await deliver_due(delivery) == 2


async def test_rate_limiting_does_not_open_the_circuit(store: SQLiteStore, settings: Settings) -> None:
    await store.enqueue(IngestWrite([item("1")]), 1.0)
    router = router_with(*[tiktok_answer(40100, "Too many requests.")] * 5)
    clock = Clock()
    delivery = delivery_for(store, settings, router.async_handler, clock, breaker_failures=2)
    for _ in range(5):
        await deliver_due(delivery)
        clock.now += 3600
    assert await store.pauses() == {}


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    from forwarder.store.sqlite.writer.key_buckets import KeyBuckets

    now = 100.0
    buckets = KeyBuckets()
    assert [buckets.take("k", 20.0, 20.0, now) for _ in range(20)] == [0.0] * 20  # the burst
    assert buckets.take("k", 20.0, 20.0, now) == pytest.approx(0.05)  # then one token every 1/20 s
    now += 0.05
    assert buckets.take("k", 20.0, 20.0, now) == 0.0
    assert buckets.take("k", 20.0, 20.0, now) > 0
    now += 10
    assert (
        sum(buckets.take("k", 20.0, 20.0, now) == 0.0 for _ in range(30)) == 20
    )  # saved-up tokens never exceed the burst

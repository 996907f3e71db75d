"""A second destination kind, test-only: a recording sink driven through the real delivery pass and loop.

It proves the loop needs nothing TikTok's: retries, pauses, probes, dead letters and split requests all come
from what a `Destination` answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from forwarder.delivery.destination import Destination, SendAgain, Settled, Verdict
from forwarder.delivery.loop import DeliveryWorker, Wakeups
from forwarder.delivery.passes import Delivery, deliver_due
from forwarder.errors import AuthError, Outcome, PermanentError, RateLimited, RetryableError
from forwarder.settings import Settings
from forwarder.store import Claimed, IngestWrite, OutboxItem, SQLiteStore, State
from forwarder.store.base import DeadFilter

pytestmark = pytest.mark.anyio


class RecordingSink:
    """Records the event ids of each request and answers from a script ("ok" once the script runs out)."""

    def __init__(self, name: str = "sink", script: list[str] | None = None) -> None:
        self.name = name
        self.rate_limit_per_s = 1000.0
        self.concurrency = 1
        self.script = list(script or [])
        self.received: list[list[str]] = []

    def requests(self, rows: list[Claimed]) -> list[list[Claimed]]:
        return [sorted(rows, key=lambda row: row.id)]

    async def send(self, rows: list[Claimed]) -> list[Verdict]:
        self.received.append([row.event_id for row in rows])
        answer = self.script.pop(0) if self.script else "ok"
        outcome = Outcome(None, 7 if answer == "ok" else 9, answer, f"sink-{len(self.received)}")
        errors = {"retry": RetryableError, "dead": PermanentError, "refuse": AuthError, "slow down": RateLimited}
        if answer in errors:
            raise errors[answer](outcome)
        if answer == "split":  # the first event is refused, the others go again on their own
            return [Settled(rows[:1], State.FAILED, outcome), SendAgain(rows[1:], outcome)]
        return [Settled(rows, State.DELIVERED, outcome)]

    def is_rate_limited(self, outcome: Outcome) -> bool:
        return outcome.message == "slow down"

    def refusal(self, outcome: Outcome) -> tuple[str, str]:
        return "credentials", f"the sink refused us: {outcome.message}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "recording_sink"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def delivery_for(store: SQLiteStore, settings: Settings, sink: Destination, clock: Clock, **policy: Any) -> Delivery:
    return Delivery(
        store=store,
        destinations={sink.name: sink},
        policy=settings.delivery.model_copy(update=policy),
        owner="sink-test",
        clock=clock,
    )


async def enqueue(store: SQLiteStore, *event_ids: str, at: float = 1.0) -> None:
    items = [OutboxItem("sink", "Anything", event_id, b'{"event":"Anything"}') for event_id in event_ids]
    await store.enqueue(IngestWrite(items), at)


async def states(store: SQLiteStore) -> dict[str, tuple[int, int]]:
    rows = await store.query("SELECT event_id, state, attempts FROM outbox")
    return {event_id: (state, attempts) for event_id, state, attempts in rows}


async def test_a_pass_delivers_to_a_destination_that_is_not_tiktok(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a", "b", "c")
    sink = RecordingSink()
    assert await deliver_due(delivery_for(store, settings, sink, Clock())) == 3
    assert sink.received == [["a", "b", "c"]]
    assert await states(store) == {"a": (State.DELIVERED, 1), "b": (State.DELIVERED, 1), "c": (State.DELIVERED, 1)}
    assert await store.query("SELECT tiktok_code, message, request_id FROM attempts") == [(7, "ok", "sink-1")] * 3


async def test_a_retryable_answer_is_retried_after_a_backoff(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a")
    sink, clock = RecordingSink(script=["retry"]), Clock()
    delivery = delivery_for(store, settings, sink, clock, retry_base_s=10, retry_cap_s=10)
    assert await deliver_due(delivery) == 1
    assert await states(store) == {"a": (State.PENDING, 1)}
    assert await deliver_due(delivery) == 0  # not due before its backoff
    clock.now += 11
    assert await deliver_due(delivery) == 1
    assert await states(store) == {"a": (State.DELIVERED, 2)}
    assert sink.received == [["a"], ["a"]]


async def test_retries_that_run_out_make_a_dead_letter(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a", at=1_700_000_000.0)  # older than max_age_h
    sink, clock = RecordingSink(script=["retry", "retry"]), Clock()
    delivery = delivery_for(store, settings, sink, clock, max_attempts=2, retry_base_s=1, retry_cap_s=1)
    await deliver_due(delivery)
    clock.now += 2
    await deliver_due(delivery)
    assert await states(store) == {"a": (State.FAILED, 2)}
    [dead] = await store.dead_letters(DeadFilter(destination="sink"))
    assert dead["event_id"] == "a" and dead["message"].startswith("gave up after 2 attempts")


async def test_a_permanent_answer_is_a_dead_letter_at_once(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a")
    sink = RecordingSink(script=["dead"])
    await deliver_due(delivery_for(store, settings, sink, Clock()))
    assert await states(store) == {"a": (State.FAILED, 1)}
    [dead] = await store.dead_letters(DeadFilter(destination="sink", tiktok_code=9))
    assert (dead["event_id"], dead["message"]) == ("a", "dead")


async def test_a_refusal_pauses_the_destination_and_a_probe_resumes_it(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a", "b", "c")
    sink, clock = RecordingSink(script=["refuse"]), Clock()
    delivery = delivery_for(store, settings, sink, clock, pause_probe_base_s=30)
    await deliver_due(delivery)
    pause = (await store.pauses())["sink"]
    assert (pause.code, pause.reason, pause.kind) == (9, "the sink refused us: refuse", "credentials")
    assert {attempts for _, attempts in (await states(store)).values()} == {0}  # the sink, not the events
    assert await deliver_due(delivery) == 0  # paused until its probe
    clock.now += 31
    assert await deliver_due(delivery) == 1  # the probe: one event, accepted ...
    assert "sink" not in await store.pauses()
    assert await deliver_due(delivery) == 2  # ... and the rest follows
    assert [len(request) for request in sink.received] == [3, 1, 2]


async def test_a_rate_limit_backs_off_without_an_attempt_or_a_pause(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a")
    sink = RecordingSink(script=["slow down"])
    await deliver_due(delivery_for(store, settings, sink, Clock(), breaker_failures=1))
    assert await states(store) == {"a": (State.PENDING, 0)}
    assert await store.pauses() == {}


async def test_repeated_failures_open_the_circuit(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a")
    sink, clock = RecordingSink(script=["retry", "retry"]), Clock()
    delivery = delivery_for(store, settings, sink, clock, breaker_failures=2, retry_base_s=1, retry_cap_s=1)
    await deliver_due(delivery)
    clock.now += 2
    await deliver_due(delivery)
    pause = (await store.pauses())["sink"]
    assert pause.kind == "breaker" and "circuit open after 2 failed passes" in pause.reason


async def test_a_destination_can_ask_for_rows_to_be_sent_again(store: SQLiteStore, settings: Settings) -> None:
    await enqueue(store, "a", "b", "c")
    sink = RecordingSink(script=["split"])
    await deliver_due(delivery_for(store, settings, sink, Clock()))
    assert sink.received == [["a", "b", "c"], ["b", "c"]]
    assert await states(store) == {"a": (State.FAILED, 1), "b": (State.DELIVERED, 1), "c": (State.DELIVERED, 1)}
    history = await store.query("SELECT o.event_id, a.request_id FROM attempts a JOIN outbox o ON o.id = a.outbox_id")
    assert sorted(history) == [("a", "sink-1"), ("b", "sink-1"), ("b", "sink-2"), ("c", "sink-1"), ("c", "sink-2")]


async def test_the_delivery_loop_drives_the_sink(store: SQLiteStore, settings: Settings) -> None:
    """The worker's loops, not a single pass: a retry, then delivery, woken by a new event."""
    fast = {"retry_base_s": 0.01, "retry_cap_s": 0.01, "poll_interval_s": 0.05}
    settings.delivery = settings.delivery.model_copy(update=fast)
    sink = RecordingSink(script=["retry"])
    delivery = Delivery(store=store, destinations={"sink": sink}, policy=settings.delivery, owner="sink-loop")
    wakeups = Wakeups()
    worker = DeliveryWorker(delivery, wakeups, settings.store)
    worker.start()
    try:
        await enqueue(store, "a", at=delivery.clock())
        wakeups.wake({"sink"})
        for _ in range(500):
            if (await states(store)).get("a", (0, 0))[0] == State.DELIVERED:
                break
            await asyncio.sleep(0.01)
    finally:
        await worker.stop(1.0)
    assert await states(store) == {"a": (State.DELIVERED, 2)}
    assert sink.received == [["a"], ["a"]]

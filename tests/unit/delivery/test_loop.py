"""The delivery loop's overlap of the store's work with the wire, on both stores, with TikTok scripted in-process:
each event is sent once, a batch claimed ahead goes back when the loop stops or the pass it overlapped failed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from forwarder.delivery.loop import run_destination
from forwarder.delivery.passes import Delivery
from forwarder.settings import Settings
from forwarder.store import IngestWrite, Store
from forwarder.tiktok.client import EventsApiClient
from forwarder.tiktok.events_api import events_api_destinations
from tests.conftest import TIKTOK, tiktok_answer
from tests.unit.delivery.test_passes import item

pytestmark = pytest.mark.anyio


def delivery_for(store: Store, settings: Settings, handler: Callable[[httpx.Request], Any], **policy: Any) -> Delivery:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Delivery(
        store=store,
        destinations=events_api_destinations(settings.destinations, EventsApiClient(http, TIKTOK)),
        policy=settings.delivery.model_copy(update={"poll_interval_s": 0.05, **policy}),
        owner="test-owner",
    )


def sent_ids(request: httpx.Request) -> list[str]:
    return [event["event_id"] for event in json.loads(request.content)["data"]]


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the loop did not get there")


async def unsettled(store: Store) -> int:
    stats = await store.stats(0.0)
    figures = stats["destinations"].get("app_main", {})
    return int(figures.get("pending", 0)) + int(figures.get("in_flight", 0))


async def test_full_batches_are_each_sent_once_and_all_recorded(any_store: Store, settings: Settings) -> None:
    await any_store.enqueue(IngestWrite([item(str(i)) for i in range(23)]), 1.0)
    sent: list[str] = []

    async def accept(request: httpx.Request) -> httpx.Response:
        sent.extend(sent_ids(request))
        await asyncio.sleep(0.01)
        return tiktok_answer(0, "OK")

    delivery = delivery_for(any_store, settings, accept, batch_size=5)
    stop = False
    loops = [asyncio.create_task(run_destination(delivery, "app_main", asyncio.Event(), lambda: stop)) for _ in "ab"]
    await until(lambda: _none_left(any_store))
    stop = True
    await asyncio.gather(*loops)
    assert sorted(sent) == sorted(str(i) for i in range(23))
    assert (await any_store.stats(0.0))["destinations"]["app_main"]["delivered"] == 23


async def _none_left(store: Store) -> bool:
    return await unsettled(store) == 0


async def test_stopping_gives_back_the_batch_claimed_ahead(any_store: Store, settings: Settings) -> None:
    await any_store.enqueue(IngestWrite([item(str(i)) for i in range(4)]), 1.0)
    started, release = asyncio.Event(), asyncio.Event()
    sent: list[str] = []

    async def hold(request: httpx.Request) -> httpx.Response:
        sent.extend(sent_ids(request))
        started.set()
        await release.wait()
        return tiktok_answer(0, "OK")

    delivery = delivery_for(any_store, settings, hold, batch_size=2)
    stop = False
    loop = asyncio.create_task(run_destination(delivery, "app_main", asyncio.Event(), lambda: stop))
    await started.wait()
    stop = True
    release.set()
    await loop
    # The first batch was sent and recorded; the second, claimed while it was on the wire, is pending again with
    # no attempt spent, for the next start to send.
    assert sorted(sent) == ["0", "1"]
    stats = (await any_store.stats(0.0))["destinations"]["app_main"]
    assert stats["delivered"] == 2 and stats.get("pending") == 2 and not stats.get("in_flight")


async def test_a_failed_pass_gives_back_the_batch_claimed_ahead_before_going_on(
    any_store: Store, settings: Settings
) -> None:
    await any_store.enqueue(IngestWrite([item(str(i)) for i in range(4)]), 1.0)
    answers = iter([tiktok_answer(0, "server error", status=500)])
    requests: list[list[str]] = []

    async def fail_once(request: httpx.Request) -> httpx.Response:
        requests.append(sent_ids(request))
        return next(answers, tiktok_answer(0, "OK"))

    delivery = delivery_for(any_store, settings, fail_once, batch_size=2, retry_base_s=600.0, retry_cap_s=600.0)
    stop = False
    loop = asyncio.create_task(run_destination(delivery, "app_main", asyncio.Event(), lambda: stop))
    await until(lambda: _delivered(any_store, 2))
    stop = True
    await loop
    # The batch claimed while the failing one was on the wire went back (no attempt spent) and was claimed again
    # by a fresh pass, which sent it once; the failed batch waits for its backoff.
    assert requests == [["0", "1"], ["2", "3"]]
    assert (await any_store.stats(0.0))["destinations"]["app_main"]["delivered"] == 2
    later = await any_store.claim_due("check", "app_main", 10, now=4_000_000_000.0, lease_s=60)
    assert [(row.event_id, row.attempts) for row in later] == [("0", 2), ("1", 2)]  # one attempt each so far


async def _delivered(store: Store, count: int) -> bool:
    return bool((await store.stats(0.0))["destinations"].get("app_main", {}).get("delivered", 0) >= count)

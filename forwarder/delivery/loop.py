"""The delivery worker: loops of passes per destination, woken by new events, plus the retention job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from ..settings import DeliverySettings, StoreSettings
from .destination import Destination
from .passes import Delivery, deliver_destination

log = structlog.get_logger(__name__)
PURGE_EVERY_S = 60.0
PURGE_BATCH = 1000


@dataclass
class Wakeups:
    """One event per destination: ingest sets the ones it stored events for; each destination loop waits on its own."""

    events: dict[str, asyncio.Event] = field(default_factory=dict)

    def __call__(self, destination: str) -> asyncio.Event:
        return self.events.setdefault(destination, asyncio.Event())

    def wake(self, destinations: set[str] | None = None) -> None:
        for name, event in self.events.items():
            if destinations is None or name in destinations:
                event.set()


async def run_destination(
    delivery: Delivery, name: str, wakeup: asyncio.Event, should_stop: Callable[[], bool]
) -> None:
    """Deliver one destination until told to stop: a full batch goes straight on, else wait for new events."""
    while not should_stop():
        wakeup.clear()
        try:
            pause = (await delivery.store.pauses()).get(name)
            claimed = await deliver_destination(delivery, name, pause)
        except Exception:
            log.exception("delivery.pass_failed", destination=name)
            claimed = 0
        if claimed < delivery.policy.batch_size and not should_stop():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), delivery.policy.poll_interval_s)


async def run_purge(delivery: Delivery, should_stop: Callable[[], bool], retention: StoreSettings) -> None:
    """Drop expired dedup keys, old delivered rows and old inbound records, in small batches, once a minute."""
    while not should_stop():
        try:
            removed = await delivery.store.purge(
                delivery.clock(),
                dedup_window_s=retention.dedup_window_h * 3600,
                delivered_retention_s=retention.retention_delivered_h * 3600,
                inbound_retention_s=retention.keep_inbound_h * 3600,
                limit=PURGE_BATCH,
            )
        except Exception:
            log.exception("retention.failed")
            removed = 0
        if removed < PURGE_BATCH:
            await asyncio.sleep(PURGE_EVERY_S)


class DeliveryWorker:
    """A delivery loop per destination plus retention; `sync()` follows destinations added or removed by a reload."""

    def __init__(self, delivery: Delivery, wakeups: Wakeups, retention: StoreSettings) -> None:
        self.delivery = delivery
        self.wakeups = wakeups
        self._retention = retention
        self._loops: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._purge: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        log.info("delivery.started", owner=self.delivery.owner, destinations=sorted(self.delivery.destinations))
        self._purge = asyncio.create_task(
            run_purge(self.delivery, self._is_stopping, self._retention),
            name="retention",
        )
        self.sync()

    def _is_stopping(self) -> bool:
        return self._stopping

    def is_running(self) -> bool:
        return not self._stopping and all(not task.done() for task in self._loops.values())

    def follow(self, destinations: Mapping[str, Destination], policy: DeliverySettings) -> None:
        """Deliver with a reloaded snapshot's destinations and policy, and match the loops to them."""
        self.delivery.destinations = destinations
        self.delivery.policy = policy
        self.sync()

    def sync(self) -> None:
        """Run `concurrency` loops per destination: start new ones, cancel those of removed destinations."""
        wanted = {
            (name, index)
            for name, destination in self.delivery.destinations.items()
            for index in range(destination.concurrency)
        }
        for key in set(self._loops) - wanted:
            self._loops.pop(key).cancel()
            log.info("delivery.loop_stopped", destination=key[0], loop=key[1])
        for name, index in sorted(wanted - set(self._loops)):

            def stopped(name: str = name, index: int = index) -> bool:
                destination = self.delivery.destinations.get(name)
                return self._stopping or destination is None or index >= destination.concurrency

            self._loops[name, index] = asyncio.create_task(
                run_destination(self.delivery, name, self.wakeups(name), stopped), name=f"delivery:{name}:{index}"
            )

    async def stop(self, grace_s: float) -> None:
        """Let current passes finish within `grace_s`; past that, cancel them (their rows go back to pending)."""
        self._stopping = True
        self.wakeups.wake()
        loops = list(self._loops.values())
        if self._purge is not None:
            self._purge.cancel()
        if loops:
            _, late = await asyncio.wait(loops, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        log.info("delivery.stopped", owner=self.delivery.owner)

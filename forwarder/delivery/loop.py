"""The delivery worker: loops of passes per destination, woken by new events, plus the retention job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio
import structlog

from ..settings import DeliverySettings, StoreSettings
from ..store import Resolution
from .circuit import moves_circuit
from .destination import Destination
from .passes import Delivery, Pass, claim_pass, record_pass, send_pass

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
    """Deliver one destination until told to stop: a full batch goes straight on, else wait for new events.

    A loop has one pass on the wire at a time (`concurrency` loops: that many in flight), and does the store's
    work for its passes around the wire rather than between them: after a full batch it claims the next one while
    this one is sent, and records this one while the next is sent. It lets recording overlap the next send only
    when the outcome cannot pause or resume the destination (`moves_circuit`) and the one before was recorded;
    otherwise it records first, gives the batch claimed ahead back and starts over, as a loop without the overlap.
    """
    ahead: asyncio.Task[Pass | None] | None = None
    recording: asyncio.Task[bool] | None = None
    try:
        while not should_stop():
            if ahead is None:
                wakeup.clear()
                claimed = await _claimed(delivery, asyncio.create_task(_claim(delivery, name)), name)
            else:
                taken, ahead = ahead, None
                claimed = await _claimed(delivery, taken, name)
                if claimed is not None and not await _still_due(delivery, claimed):
                    continue
            if claimed is None:
                await _recorded(recording)
                recording = None
                await _idle(delivery, wakeup, should_stop)
                continue
            full = claimed.pause is None and len(claimed.claimed) >= delivery.policy.batch_size
            if full:
                wakeup.clear()
                ahead = asyncio.create_task(_claim(delivery, name))
            try:
                resolutions: list[Resolution] | None = await send_pass(delivery, claimed)
            except Exception:
                log.exception("delivery.pass_failed", destination=name)
                resolutions = None
            recorded = await _recorded(recording)
            recording = None
            if resolutions is None:
                unsent, ahead = ahead, None
                await _give_back(delivery, unsent, name)
                await _idle(delivery, wakeup, should_stop)
                continue
            recording = asyncio.create_task(_record(delivery, claimed, resolutions))
            if recorded and full and not moves_circuit(claimed.destination, claimed.pause, resolutions):
                continue  # the batch claimed ahead goes out while this one is recorded
            recorded = await _recorded(recording)
            recording = None
            unsent, ahead = ahead, None
            await _give_back(delivery, unsent, name)
            if not (recorded and full):
                await _idle(delivery, wakeup, should_stop)
    finally:
        # Stopping (or cancelled): what was claimed ahead goes back to pending, and what was sent is recorded.
        with anyio.CancelScope(shield=True):
            await _give_back(delivery, ahead, name)
            await _recorded(recording)


async def _idle(delivery: Delivery, wakeup: asyncio.Event, should_stop: Callable[[], bool]) -> None:
    """Wait for new events, or the poll interval for retries coming due."""
    if not should_stop():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), delivery.policy.poll_interval_s)


async def _claim(delivery: Delivery, name: str) -> Pass | None:
    pause = (await delivery.store.pauses()).get(name)
    return await claim_pass(delivery, name, pause)


async def _claimed(delivery: Delivery, claim: asyncio.Task[Pass | None], name: str) -> Pass | None:
    """A claim's rows, or None when it failed (logged; the loop then waits its poll interval, as after any failed
    pass). A loop cancelled meanwhile does not cancel the claim: the rows it took go back when it lands."""
    try:
        return await asyncio.shield(claim)
    except asyncio.CancelledError:
        await _give_back(delivery, claim, name)
        raise
    except Exception:
        log.exception("delivery.pass_failed", destination=name)
        return None


async def _still_due(delivery: Delivery, claimed: Pass) -> bool:
    """Whether a batch claimed ahead may still be sent: its destination was not paused meanwhile (by another loop
    or replica) and its lease leaves two timeouts to send it in. Else its rows go back to pending."""
    name = claimed.destination.name
    try:
        paused = name in await delivery.store.pauses()
    except Exception:
        log.exception("delivery.pass_failed", destination=name)
        paused = True
    policy = delivery.policy
    age = delivery.clock() - claimed.claimed_at
    if not paused and age <= policy.lease_s - 2 * policy.timeout_s:
        return True
    # Past that, the lease could lapse (and the rows be claimed again) before a release lands: they wait for it.
    if age < policy.lease_s - policy.timeout_s:
        await _release(delivery, claimed)
    return False


async def _give_back(delivery: Delivery, claim: asyncio.Task[Pass | None] | None, name: str) -> None:
    """Release what a claim made ahead took, once it lands; never cancelled half way."""
    if claim is None:
        return
    with anyio.CancelScope(shield=True):
        try:
            claimed = await asyncio.shield(claim)
        except Exception:
            log.exception("delivery.pass_failed", destination=name)
            return
        if claimed is not None:
            await _release(delivery, claimed)


async def _release(delivery: Delivery, claimed: Pass) -> None:
    try:
        await delivery.store.release(delivery.owner, [c.id for c in claimed.claimed])
    except Exception:
        # Not released, the rows go back to pending when their lease lapses.
        log.exception("delivery.release_failed", destination=claimed.destination.name)


async def _record(delivery: Delivery, claimed: Pass, resolutions: list[Resolution]) -> bool:
    """Record a pass (in the background of the next send); whether it was recorded."""
    try:
        await record_pass(delivery, claimed, resolutions)
    except Exception:
        log.exception("delivery.pass_failed", destination=claimed.destination.name)
        return False
    return True


async def _recorded(recording: asyncio.Task[bool] | None) -> bool:
    """Wait for the last pass to be recorded (not cancelling it); whether it was (or there was none)."""
    return True if recording is None else await asyncio.shield(recording)


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

"""Deliver the outbox: `deliver_due` is one pass (claim, send per destination, record); `run_worker` loops it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby

import anyio
import structlog

from .errors import DeliveryError, Outcome, PermanentError, RetryableError
from .settings import DeliverySettings, DestinationSettings
from .store import Claimed, Resolution, State, Store
from .tiktok.client import EventsApiClient, track_body
from .tiktok.payload import envelope

log = structlog.get_logger(__name__)

# TikTok names the offending event of a 40002 in some messages: "Batch.3.properties..." or "data.3.event_id".
_EVENT_INDEX = re.compile(r"\b(?:[Bb]atch|data)\.(\d+)\.")
PURGE_EVERY_S = 60.0
PURGE_BATCH = 1000


@dataclass
class Delivery:
    """Everything one delivery pass needs, injected so tests can drive a pass directly."""

    store: Store
    client: EventsApiClient
    destinations: dict[str, DestinationSettings]
    policy: DeliverySettings
    owner: str
    partner_name: str | None = None
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def backoff_s(self, attempts: int, retry_after_s: float | None) -> float:
        """Full-jitter exponential backoff; a Retry-After is honoured up to the cap."""
        ceiling = min(self.policy.retry_cap_s, self.policy.retry_base_s * 2 ** max(0, attempts - 1))
        delay = self.rng.uniform(0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.policy.retry_cap_s))
        return delay


async def deliver_due(delivery: Delivery) -> int:
    """Claim due events, send them grouped by destination and test code, record every outcome; how many claimed."""
    policy = delivery.policy
    claimed = await delivery.store.claim_due(delivery.owner, policy.batch_size, delivery.clock(), policy.lease_s)
    if not claimed:
        return 0
    groups = [
        list(rows)
        for _, rows in groupby(
            sorted(claimed, key=lambda c: (c.destination, c.test_event_code or "", c.id)),
            key=lambda c: (c.destination, c.test_event_code),
        )
    ]
    try:
        results = await asyncio.gather(*(_send_group(delivery, group) for group in groups))
    except asyncio.CancelledError:
        # Shutting down mid-request: give the rows back so the next start sends them at once.
        with anyio.CancelScope(shield=True):
            await delivery.store.release(delivery.owner, [c.id for c in claimed])
        raise
    resolutions = [resolution for result in results for resolution in result]
    with anyio.CancelScope(shield=True):
        await delivery.store.resolve(delivery.owner, resolutions, delivery.clock())
    return len(claimed)


async def _send_group(delivery: Delivery, rows: list[Claimed]) -> list[Resolution]:
    destination = delivery.destinations.get(rows[0].destination)
    if destination is None:
        outcome = Outcome(None, None, f"destination {rows[0].destination!r} is not configured")
        log.warning("delivery.unknown_destination", destination=rows[0].destination, events=len(rows))
        return [_retry(delivery, rows, outcome, None)]
    return await _send(delivery, destination, rows, earlier=[])


async def _send(
    delivery: Delivery, destination: DestinationSettings, rows: list[Claimed], earlier: list[Outcome]
) -> list[Resolution]:
    name = rows[0].destination
    body = track_body(
        envelope(
            event_source=destination.event_source,
            event_source_id=destination.event_source_id,
            data=[],
            partner_name=delivery.partner_name,
            test_event_code=rows[0].test_event_code,
        ),
        [row.payload for row in rows],
    )
    try:
        outcome = await delivery.client.send(body, destination.access_token.get_secret_value())
    except RetryableError as error:
        _log_failure("delivery.retry", name, rows, error)
        return [_retry(delivery, rows, error.outcome, error.retry_after_s, earlier)]
    except PermanentError as error:
        if error.outcome.tiktok_code == 40002 and len(rows) > 1:
            return await _isolate(delivery, destination, rows, error, earlier)
        _log_failure("delivery.failed", name, rows, error)
        return [Resolution([r.id for r in rows], State.FAILED, error.outcome, earlier=earlier)]
    log.info("delivery.delivered", destination=name, events=len(rows), request_id=outcome.request_id)
    return [Resolution([r.id for r in rows], State.DELIVERED, outcome, earlier=earlier)]


async def _isolate(
    delivery: Delivery,
    destination: DestinationSettings,
    rows: list[Claimed],
    error: PermanentError,
    earlier: list[Outcome],
) -> list[Resolution]:
    """A 40002 on a batch: fail only the offending event(s) and deliver the rest."""
    _log_failure("delivery.isolating", rows[0].destination, rows, error)
    history = [*earlier, error.outcome]
    match = _EVENT_INDEX.search(error.outcome.message)
    if match and int(match.group(1)) < len(rows):
        index = int(match.group(1))
        bad, rest = rows[index], rows[:index] + rows[index + 1 :]
        failed = Resolution([bad.id], State.FAILED, error.outcome, earlier=earlier)
        return [failed, *await _send(delivery, destination, rest, history)]
    middle = len(rows) // 2
    halves = await asyncio.gather(
        _send(delivery, destination, rows[:middle], history), _send(delivery, destination, rows[middle:], history)
    )
    return [*halves[0], *halves[1]]


def _retry(
    delivery: Delivery,
    rows: list[Claimed],
    outcome: Outcome,
    retry_after_s: float | None,
    earlier: list[Outcome] | None = None,
) -> Resolution:
    attempts = max(row.attempts for row in rows)
    if attempts >= delivery.policy.max_attempts:
        outcome = Outcome(
            outcome.http_status,
            outcome.tiktok_code,
            f"gave up after {attempts} attempts: {outcome.message}",
            outcome.request_id,
        )
        return Resolution([r.id for r in rows], State.FAILED, outcome, earlier=earlier or [])
    next_at = delivery.clock() + delivery.backoff_s(attempts, retry_after_s)
    return Resolution([r.id for r in rows], State.PENDING, outcome, next_attempt_at=next_at, earlier=earlier or [])


def _log_failure(event: str, destination: str, rows: list[Claimed], error: DeliveryError) -> None:
    outcome = error.outcome
    log.warning(
        event,
        destination=destination,
        events=len(rows),
        http_status=outcome.http_status,
        tiktok_code=outcome.tiktok_code,
        message=outcome.message,
        request_id=outcome.request_id,
    )


async def run_worker(
    delivery: Delivery,
    wakeup: asyncio.Event,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    dedup_window_s: float,
    retention_s: float,
) -> None:
    """Deliver until told to stop: a full batch goes straight on, an empty pass waits for new events or a poll."""
    log.info("delivery.started", owner=delivery.owner)
    next_purge = 0.0
    while not should_stop():
        wakeup.clear()
        try:
            claimed = await deliver_due(delivery)
            now = delivery.clock()
            if now >= next_purge:
                next_purge = now + PURGE_EVERY_S
                await delivery.store.purge(
                    now, dedup_window_s=dedup_window_s, delivered_retention_s=retention_s, limit=PURGE_BATCH
                )
        except Exception:
            log.exception("delivery.pass_failed")
            claimed = 0
        if claimed < delivery.policy.batch_size and not should_stop():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), delivery.policy.poll_interval_s)
    log.info("delivery.stopped", owner=delivery.owner)

"""Deliver the outbox, one destination at a time so none waits on another.

`deliver_destination` is one pass for one destination (claim, send per test code, record, then `circuit.py`
pauses or resumes it);
`deliver_due` runs one pass for every destination. `worker.py` loops the passes.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import groupby

import anyio
import structlog

from .circuit import update_pause
from .errors import (
    DeliveryError,
    DestinationRefused,
    Outcome,
    PermanentError,
    RateLimited,
    RetryableError,
    UnknownCodeError,
)
from .metrics import Metrics
from .settings import DeliverySettings, DestinationSettings
from .store import Claimed, Pause, Resolution, State, Store
from .tiktok.client import EventsApiClient, track_body
from .tiktok.payload import envelope

log = structlog.get_logger(__name__)

# TikTok names the offending event of a 40002 in some messages: "Batch.3.properties..." or "data.3.event_id".
_EVENT_INDEX = re.compile(r"\b(?:[Bb]atch|data)\.(\d+)\.")


@dataclass
class Delivery:
    """Everything a delivery pass needs, injected so tests can drive a pass directly."""

    store: Store
    client: EventsApiClient
    destinations: Mapping[str, DestinationSettings]
    policy: DeliverySettings
    owner: str
    partner_name: str | None = None
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    metrics: Metrics | None = None
    failing_passes: dict[str, int] = field(default_factory=dict)  # per destination, for the circuit breaker

    async def acquire_token(self, name: str, rate: float) -> None:
        """Wait for the destination's rate limit; the bucket lives in the store, so replicas share one limit."""
        while True:
            wait = await self.store.take_token(name, rate, max(1.0, rate), self.clock())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    def backoff_s(self, attempts: int, retry_after_s: float | None) -> float:
        """Full-jitter exponential backoff, never sooner than a Retry-After (bounded by `retry_after_max_s`)."""
        ceiling = min(self.policy.retry_cap_s, self.policy.retry_base_s * 2 ** max(0, attempts - 1))
        delay = self.rng.uniform(0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.policy.retry_after_max_s))
        return delay

    def probe_delay_s(self, failed_probes: int) -> float:
        return min(self.policy.pause_probe_cap_s, self.policy.pause_probe_base_s * 2.0**failed_probes)


async def deliver_due(delivery: Delivery) -> int:
    """One pass over every destination; how many events were claimed."""
    pauses = await delivery.store.pauses()
    counts = await asyncio.gather(
        *(deliver_destination(delivery, name, pauses.get(name)) for name in delivery.destinations)
    )
    return sum(counts)


async def deliver_destination(delivery: Delivery, name: str, pause: Pause | None = None) -> int:
    """Claim one destination's due events, send them, record the outcomes; how many were claimed.

    A paused destination sends nothing until its probe time, then one event as the probe.
    """
    now = delivery.clock()
    destination = delivery.destinations.get(name)
    if destination is None or (pause is not None and pause.probe_at > now):
        return 0
    policy = delivery.policy
    limit = 1 if pause is not None else policy.batch_size
    claimed = await delivery.store.claim_due(delivery.owner, name, limit, now, policy.lease_s)
    if not claimed:
        return 0
    by_test_code = sorted(claimed, key=lambda c: (c.test_event_code or "", c.id))
    groups = [list(rows) for _, rows in groupby(by_test_code, key=lambda c: c.test_event_code or "")]
    try:
        results = await asyncio.gather(*(_send(delivery, destination, rows, earlier=[]) for rows in groups))
    except asyncio.CancelledError:
        # Shutting down mid-request: give the rows back so the next start sends them at once.
        with anyio.CancelScope(shield=True):
            await delivery.store.release(delivery.owner, [c.id for c in claimed])
        raise
    resolutions = [resolution for result in results for resolution in result]
    with anyio.CancelScope(shield=True):
        await delivery.store.resolve(delivery.owner, resolutions, delivery.clock())
        await update_pause(delivery, name, pause, resolutions)
    if delivery.metrics is not None:
        created = {c.id: c.created_at for c in claimed}
        now = delivery.clock()
        lags = [now - created[i] for r in resolutions if r.state == State.DELIVERED for i in r.ids]
        delivery.metrics.record_resolutions(name, resolutions, lags)
    return len(claimed)


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
    ids = [row.id for row in rows]
    try:
        await delivery.acquire_token(name, destination.rate_limit_per_s)
        outcome = await _timed_send(delivery, name, body, destination.access_token.get_secret_value())
    except DestinationRefused as error:
        # The destination's credentials or settings, not these events, were refused: keep them pending, uncounted.
        now = delivery.clock()
        return [Resolution(ids, State.PENDING, error.outcome, now, earlier, counts_as_attempt=False)]
    except RateLimited as error:
        _log_failure("delivery.rate_limited", name, rows, error)
        return [_back_off(delivery, rows, error, earlier)]
    except RetryableError as error:
        _log_failure("delivery.retry", name, rows, error)
        return [_retry(delivery, rows, error, earlier)]
    except PermanentError as error:
        if error.outcome.tiktok_code == 40002 and len(rows) > 1:
            return await _isolate(delivery, destination, rows, error, earlier)
        _log_failure("delivery.failed", name, rows, error)
        return [Resolution(ids, State.FAILED, error.outcome, earlier=earlier)]
    if outcome.refused is not None:
        return await _partial(delivery, destination, rows, outcome, earlier)
    log.info("delivery.delivered", destination=name, events=len(rows), request_id=outcome.request_id)
    return [Resolution(ids, State.DELIVERED, outcome, earlier=earlier)]


async def _timed_send(delivery: Delivery, name: str, body: bytes, token: str) -> Outcome:
    started = time.perf_counter()
    try:
        return await delivery.client.send(body, token)
    finally:
        if delivery.metrics is not None:
            delivery.metrics.request_latency.labels(name).observe(time.perf_counter() - started)


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


async def _partial(
    delivery: Delivery, destination: DestinationSettings, rows: list[Claimed], outcome: Outcome, earlier: list[Outcome]
) -> list[Resolution]:
    """A 20001: fail the events TikTok names as refused, deliver the rest; never a plain success.

    When the answer names no event, a batch is split in two and each half sent again (TikTok's event_id dedup
    absorbs what it already took) until each refusal is pinned to its event.
    """
    refused = outcome.refused or {}
    log.warning(
        "delivery.partial",
        destination=rows[0].destination,
        events=len(rows),
        refused=len(refused),
        message=outcome.message,
        request_id=outcome.request_id,
    )
    if not refused and len(rows) > 1:
        history = [*earlier, outcome]
        middle = len(rows) // 2
        halves = await asyncio.gather(
            _send(delivery, destination, rows[:middle], history), _send(delivery, destination, rows[middle:], history)
        )
        return [*halves[0], *halves[1]]
    resolutions = [
        Resolution(
            [row.id],
            State.FAILED,
            _partial_outcome(outcome, f"refused in a partial answer (20001): {refused[index]}"),
            earlier=earlier,
        )
        for index, row in enumerate(rows)
        if index in refused
    ]
    kept = [row.id for index, row in enumerate(rows) if index not in refused]
    if kept:
        note = (
            f"accepted in a partial answer (20001) that refused {len(refused)} of {len(rows)} events"
            if refused
            else "TikTok answered 20001 (partial) for this event without naming what it refused"
        )
        resolutions.append(Resolution(kept, State.DELIVERED, _partial_outcome(outcome, note), earlier=earlier))
    return resolutions


def _partial_outcome(outcome: Outcome, message: str) -> Outcome:
    return Outcome(
        outcome.http_status, outcome.tiktok_code, f"{message}; TikTok: {outcome.message}", outcome.request_id
    )


def _back_off(delivery: Delivery, rows: list[Claimed], error: RateLimited, earlier: list[Outcome]) -> Resolution:
    """Rate limited: wait (never sooner than Retry-After) without spending an attempt; TikTok will take the events
    once the limit passes, so a rate limit never dead-letters them (the oldest-pending age shows a long one)."""
    next_at = delivery.clock() + delivery.backoff_s(max(row.attempts for row in rows), error.retry_after_s)
    return Resolution([r.id for r in rows], State.PENDING, error.outcome, next_at, earlier, counts_as_attempt=False)


def _retry(delivery: Delivery, rows: list[Claimed], error: RetryableError, earlier: list[Outcome]) -> Resolution:
    attempts = max(row.attempts for row in rows)
    limit = delivery.policy.max_attempts
    if isinstance(error, UnknownCodeError):
        limit = min(limit, delivery.policy.unknown_code_max_attempts)
    outcome = error.outcome
    age_s = delivery.clock() - min(row.created_at for row in rows)
    exhausted = attempts >= limit and (isinstance(error, UnknownCodeError) or age_s >= delivery.policy.max_age_h * 3600)
    if exhausted:
        message = f"gave up after {attempts} attempts in {age_s / 3600:.1f} h: {outcome.message}"
        final = Outcome(outcome.http_status, outcome.tiktok_code, message, outcome.request_id)
        return Resolution([r.id for r in rows], State.FAILED, final, earlier=earlier)
    next_at = delivery.clock() + delivery.backoff_s(attempts, error.retry_after_s)
    return Resolution([r.id for r in rows], State.PENDING, outcome, next_attempt_at=next_at, earlier=earlier)


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

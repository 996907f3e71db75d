"""Deliver the outbox, one destination at a time so none waits on another.

`deliver_destination` is one pass for one destination (claim, send a request per group the destination makes,
record, then `circuit.py` pauses or resumes it); `deliver_due` runs one pass for every destination. `loop.py`
loops the passes. What a request looks like and what its answer means is the `Destination`'s
(`destination.py`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio
import structlog

from ..errors import (
    DeliveryError,
    DestinationRefused,
    Outcome,
    PermanentError,
    RateLimited,
    RetryableError,
    UnknownCodeError,
)
from ..metrics import Metrics
from ..settings import DeliverySettings
from ..store import Claimed, Pause, Resolution, State, Store
from .circuit import update_pause
from .destination import Destination, SendAgain, Settled, Verdict

log = structlog.get_logger(__name__)


@dataclass
class Delivery:
    """Everything a delivery pass needs, injected so tests can drive a pass directly."""

    store: Store
    destinations: Mapping[str, Destination]
    policy: DeliverySettings
    owner: str
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    metrics: Metrics | None = None
    failing_passes: dict[str, int] = field(default_factory=dict)  # per destination, for the circuit breaker

    async def acquire_token(self, name: str, rate: float) -> None:
        """Wait for the destination's rate limit; the store keeps the bucket, so replicas share one limit."""
        while True:
            wait = await self.store.take_delivery_token(name, rate, max(1.0, rate), self.clock())
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


@dataclass(frozen=True)
class Pass:
    """One pass's claimed rows: what it claimed them under (the pause read before the claim) and when."""

    destination: Destination
    pause: Pause | None
    claimed: list[Claimed]
    claimed_at: float


async def deliver_destination(delivery: Delivery, name: str, pause: Pause | None = None) -> int:
    """Claim one destination's due events, send them, record the outcomes; how many were claimed.

    A paused destination sends nothing until its probe time, then one event as the probe.
    """
    claimed = await claim_pass(delivery, name, pause)
    if claimed is None:
        return 0
    await record_pass(delivery, claimed, await send_pass(delivery, claimed))
    return len(claimed.claimed)


async def claim_pass(delivery: Delivery, name: str, pause: Pause | None) -> Pass | None:
    """Claim a pass's rows under a lease: a batch, one probe event for a paused destination whose probe is due,
    or None (nothing due, paused, or no such destination)."""
    now = delivery.clock()
    destination = delivery.destinations.get(name)
    if destination is None or (pause is not None and pause.probe_at > now):
        return None
    policy = delivery.policy
    limit = 1 if pause is not None else policy.batch_size
    claimed = await delivery.store.claim_due(delivery.owner, name, limit, now, policy.lease_s)
    return Pass(destination, pause, claimed, now) if claimed else None


async def send_pass(delivery: Delivery, claimed: Pass) -> list[Resolution]:
    """Send a pass's rows, a request per group the destination makes; a resolution per group of rows. Cancelled
    mid-request (shutting down), it gives the rows back so the next start sends them at once."""
    destination = claimed.destination
    try:
        results = await asyncio.gather(
            *(_send(delivery, destination, rows, earlier=[]) for rows in destination.requests(claimed.claimed))
        )
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            await delivery.store.release(delivery.owner, [c.id for c in claimed.claimed])
        raise
    return [resolution for result in results for resolution in result]


async def record_pass(delivery: Delivery, claimed: Pass, resolutions: list[Resolution]) -> None:
    """Record a pass's outcomes, then let the circuit pause or resume the destination; never half done."""
    name = claimed.destination.name
    with anyio.CancelScope(shield=True):
        await delivery.store.resolve(delivery.owner, resolutions, delivery.clock())
        await update_pause(delivery, claimed.destination, claimed.pause, resolutions)
    if delivery.metrics is not None:
        created = {c.id: c.created_at for c in claimed.claimed}
        now = delivery.clock()
        lags = [now - created[i] for r in resolutions if r.state == State.DELIVERED for i in r.ids]
        delivery.metrics.record_resolutions(name, resolutions, lags)


async def _send(
    delivery: Delivery, destination: Destination, rows: list[Claimed], earlier: list[Outcome]
) -> list[Resolution]:
    """One request for `rows`, and the ones the destination asks for after it; a resolution per group of rows."""
    name = destination.name
    ids = [row.id for row in rows]
    try:
        await delivery.acquire_token(name, destination.rate_limit_per_s)
        verdicts = await _timed_send(delivery, destination, rows)
    except DestinationRefused as error:
        # The destination's credentials or settings, not these events, were refused: keep them pending, uncounted.
        now = delivery.clock()
        return [Resolution(ids, State.PENDING, error.outcome, now, earlier, counts_as_attempt=False)]
    except RateLimited as error:
        log_failure("delivery.rate_limited", name, rows, error)
        return [_back_off(delivery, rows, error, earlier)]
    except RetryableError as error:
        log_failure("delivery.retry", name, rows, error)
        return [_retry(delivery, rows, error, earlier)]
    except PermanentError as error:
        log_failure("delivery.failed", name, rows, error)
        return [Resolution(ids, State.FAILED, error.outcome, earlier=earlier)]
    settled = [
        Resolution([row.id for row in v.rows], v.state, v.outcome, earlier=earlier)
        for v in verdicts
        if isinstance(v, Settled)
    ]
    again = [v for v in verdicts if isinstance(v, SendAgain)]
    resent = await asyncio.gather(*(_send(delivery, destination, v.rows, [*earlier, v.outcome]) for v in again))
    return [*settled, *(resolution for result in resent for resolution in result)]


async def _timed_send(delivery: Delivery, destination: Destination, rows: list[Claimed]) -> list[Verdict]:
    started = time.perf_counter()
    try:
        return await destination.send(rows)
    finally:
        if delivery.metrics is not None:
            delivery.metrics.request_latency.labels(destination.name).observe(time.perf_counter() - started)


def _back_off(delivery: Delivery, rows: list[Claimed], error: RateLimited, earlier: list[Outcome]) -> Resolution:
    """Rate limited: wait (never sooner than Retry-After) without spending an attempt; the destination will take
    the events once the limit passes, so a rate limit never dead-letters them (the oldest-pending age shows a long
    one)."""
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
        final = Outcome(outcome.http_status, outcome.code, message, outcome.request_id)
        return Resolution([r.id for r in rows], State.FAILED, final, earlier=earlier)
    next_at = delivery.clock() + delivery.backoff_s(attempts, error.retry_after_s)
    return Resolution([r.id for r in rows], State.PENDING, outcome, next_attempt_at=next_at, earlier=earlier)


def log_failure(event: str, destination: str, rows: list[Claimed], error: DeliveryError) -> None:
    """A failed request as one log event; `tiktok_code` is the field name logs have always given the code."""
    outcome = error.outcome
    log.warning(
        event,
        destination=destination,
        events=len(rows),
        http_status=outcome.http_status,
        tiktok_code=outcome.code,
        message=outcome.message,
        request_id=outcome.request_id,
    )

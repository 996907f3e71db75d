"""The circuit per destination: paused when the far side refuses the destination itself, opened after repeated
failed passes, probed with one event and resumed as soon as the far side settles one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from ..errors import Outcome
from ..store import Pause, Resolution, State
from .destination import Destination

if TYPE_CHECKING:
    from .passes import Delivery

log = structlog.get_logger(__name__)


async def update_pause(
    delivery: Delivery, destination: Destination, pause: Pause | None, resolutions: list[Resolution]
) -> None:
    """The circuit per destination: the far side refusing credentials or a setting pauses it at once; repeated
    failed passes (5xx, timeouts) open it after `breaker_failures`; a paused destination is probed with one event
    and resumes as soon as the far side settles one (delivered, or refused for the event's own fault)."""
    now = delivery.clock()
    name = destination.name
    refused = _refused(destination, resolutions)
    failing = _failing(destination, resolutions)
    if not failing and refused is None:
        delivery.failing_passes[name] = 0
        if pause is not None:
            await delivery.store.resume(name)
            log.info("destination.resumed", destination=name, paused_s=round(now - pause.paused_at, 1))
        return
    if pause is not None:
        probes = pause.probes + 1
        kind, reason = destination.refusal(refused) if refused else (pause.kind, pause.reason)
        code = refused.code if refused else pause.code
        await delivery.store.pause(
            Pause(name, reason, code, pause.paused_at, now + _pause_delay(delivery, pause, probes), probes, kind)
        )
        log.warning("destination.probe_failed", destination=name, tiktok_code=code, failed_probes=probes)
        return
    if refused is not None:
        kind, reason = destination.refusal(refused)
        await delivery.store.pause(
            Pause(name, reason, refused.code, now, now + delivery.probe_delay_s(0), 0, kind=kind)
        )
        log.error(
            "destination.paused",
            destination=name,
            tiktok_code=refused.code,
            http_status=refused.http_status,
            reason=reason,
            kind=kind,
            request_id=refused.request_id,
        )
        return
    failed = delivery.failing_passes.get(name, 0) + 1
    delivery.failing_passes[name] = failed
    if failed >= delivery.policy.breaker_failures:
        last = resolutions[-1].outcome
        reason = f"circuit open after {failed} failed passes in a row; last: {last.message}"
        await delivery.store.pause(
            Pause(name, reason, last.code, now, now + delivery.policy.breaker_cooldown_s, 0, kind="breaker")
        )
        delivery.failing_passes[name] = 0
        log.error(
            "destination.circuit_open",
            destination=name,
            failed_passes=failed,
            last_error=last.message,
            tiktok_code=last.code,
            http_status=last.http_status,
        )


def moves_circuit(destination: Destination, pause: Pause | None, resolutions: list[Resolution]) -> bool:
    """Whether recording these outcomes may pause or resume the destination (else it only resets the count of
    failed passes): the delivery loop sends its next batch before it has recorded this one only when not."""
    return pause is not None or _failing(destination, resolutions) or _refused(destination, resolutions) is not None


def _refused(destination: Destination, resolutions: list[Resolution]) -> Outcome | None:
    """A refusal of the destination itself (credentials or a request-wide setting), not of these events."""
    return next(
        (r.outcome for r in resolutions if not r.counts_as_attempt and not destination.is_rate_limited(r.outcome)),
        None,
    )


def _failing(destination: Destination, resolutions: list[Resolution]) -> bool:
    """A failed pass: nothing settled. Rate limiting is answered by backoff and the local limiter, not by opening
    the circuit."""
    return all(r.state == State.PENDING for r in resolutions) and not all(
        destination.is_rate_limited(r.outcome) for r in resolutions
    )


def _pause_delay(delivery: Delivery, pause: Pause, probes: int) -> float:
    if pause.kind == "breaker":
        return float(min(delivery.policy.pause_probe_cap_s, delivery.policy.breaker_cooldown_s * 2.0**probes))
    return delivery.probe_delay_s(probes)

"""The circuit per destination: paused when TikTok refuses the destination itself, opened after repeated failed
passes, probed with one event and resumed as soon as TikTok settles one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from .errors import Outcome
from .store import Pause, Resolution, State
from .tiktok.client import is_rate_limited
from .tiktok.codes import classify_code, operator_reason

if TYPE_CHECKING:
    from .delivery import Delivery

log = structlog.get_logger(__name__)


async def update_pause(delivery: Delivery, name: str, pause: Pause | None, resolutions: list[Resolution]) -> None:
    """The circuit per destination: TikTok refusing credentials pauses it at once; repeated failed passes (5xx,
    timeouts, rate limits) open it after `breaker_failures`; a paused destination is probed with one event and
    resumes as soon as TikTok settles one (delivered, or refused for the event's own fault)."""
    now = delivery.clock()
    refused = next((r.outcome for r in resolutions if _is_refusal(r)), None)
    # Rate limiting is answered by backoff and the local limiter, not by opening the circuit.
    failing = all(r.state == State.PENDING for r in resolutions) and not all(
        is_rate_limited(r.outcome) for r in resolutions
    )
    if not failing and refused is None:
        delivery.failing_passes[name] = 0
        if pause is not None:
            await delivery.store.resume(name)
            log.info("destination.resumed", destination=name, paused_s=round(now - pause.paused_at, 1))
        return
    if pause is not None:
        probes = pause.probes + 1
        kind, reason = _refusal(refused) if refused else (pause.kind, pause.reason)
        code = refused.tiktok_code if refused else pause.tiktok_code
        await delivery.store.pause(
            Pause(name, reason, code, pause.paused_at, now + _pause_delay(delivery, pause, probes), probes, kind)
        )
        log.warning("destination.probe_failed", destination=name, tiktok_code=code, failed_probes=probes)
        return
    if refused is not None:
        kind, reason = _refusal(refused)
        await delivery.store.pause(
            Pause(name, reason, refused.tiktok_code, now, now + delivery.probe_delay_s(0), 0, kind=kind)
        )
        log.error(
            "destination.paused",
            destination=name,
            tiktok_code=refused.tiktok_code,
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
            Pause(name, reason, last.tiktok_code, now, now + delivery.policy.breaker_cooldown_s, 0, kind="breaker")
        )
        delivery.failing_passes[name] = 0
        log.error(
            "destination.circuit_open",
            destination=name,
            failed_passes=failed,
            last_error=last.message,
            tiktok_code=last.tiktok_code,
            http_status=last.http_status,
        )


def _is_refusal(resolution: Resolution) -> bool:
    """TikTok refused the destination itself (credentials or a request-wide setting), not these events."""
    return not resolution.counts_as_attempt and not is_rate_limited(resolution.outcome)


def _refusal(outcome: Outcome) -> tuple[str, str]:
    """The pause kind and reason for a refusal: a setting refused gets what to fix in its reason."""
    code = outcome.tiktok_code
    if code is not None and classify_code(code, outcome.message) == "config":
        return "configuration", operator_reason(code, outcome.message)
    return "credentials", outcome.message


def _pause_delay(delivery: Delivery, pause: Pause, probes: int) -> float:
    if pause.kind == "breaker":
        return float(min(delivery.policy.pause_probe_cap_s, delivery.policy.breaker_cooldown_s * 2.0**probes))
    return delivery.probe_delay_s(probes)

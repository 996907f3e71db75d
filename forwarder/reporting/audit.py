"""The audit: per advertiser day and event, what we forwarded and TikTok acknowledged against what TikTok reports.

Flags (thresholds in `AuditThresholds`):
- `reported_never_sent`: TikTok reports conversions of an event on a day we acknowledged none of: another sender
  (the SDK, an MMP) is reporting the same event, or our mapping misses it; either way counts are doubled or lost.
- `far_fewer_reported`: TikTok reports fewer than `far_fewer_ratio` x the events it acknowledged from us, once at
  least `min_acknowledged` were acknowledged: a sign of poor matching. TikTok counts only ad-attributed events, by
  impression/click day, so some shortfall is normal; the default ratio (0.2) flags only a gap of 5x or more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from forwarder.reporting.forwarded import ForwardedEvent, advertiser_day, unique
from forwarder.reporting.rows import Figures

# Our event name -> the TikTok metric counting every such event (`total_*`, not the unique-user count).
EVENT_METRICS = {
    "InstallApp": "app_install",
    "Purchase": "total_purchase",
    "CompletePayment": "total_purchase",
    "Subscribe": "total_subscribe",
    "StartTrial": "total_start_trial",
    "Registration": "total_registration",
    "CompleteRegistration": "total_registration",
}


@dataclass(frozen=True)
class AuditThresholds:
    far_fewer_ratio: Decimal = Decimal("0.2")
    min_acknowledged: int = 20


@dataclass(frozen=True)
class AuditLine:
    """One advertiser day and event: our counts, TikTok's (`None` when unknown) and the flags raised."""

    day: date
    event_name: str
    metric: str
    sent: int
    acknowledged: int
    reported: Decimal | None
    flags: tuple[str, ...]


def audit(
    events: Iterable[ForwardedEvent],
    reported_by_day: Mapping[date, Figures],
    *,
    timezone: ZoneInfo,
    thresholds: AuditThresholds | None = None,
    event_metrics: Mapping[str, str] | None = None,
) -> list[AuditLine]:
    """Lines for every (day, event) either side has, ordered by day then event name."""
    thresholds = thresholds or AuditThresholds()
    metrics = dict(EVENT_METRICS if event_metrics is None else event_metrics)
    sent: dict[tuple[date, str], int] = {}
    acknowledged: dict[tuple[date, str], int] = {}
    for event in unique(events):
        if event.event_name not in metrics:
            continue
        key = (advertiser_day(event.event_time, timezone), event.event_name)
        sent[key] = sent.get(key, 0) + 1
        acknowledged[key] = acknowledged.get(key, 0) + int(event.acknowledged)
    keys = set(sent)
    for day, figures in reported_by_day.items():
        for metric in dict.fromkeys(metrics.values()):
            names = [name for name, m in metrics.items() if m == metric]
            # A metric several of our names share (Purchase, CompletePayment) gets one line unless we sent them.
            if figures.metric(metric) and not any((day, name) in sent for name in names):
                keys.add((day, names[0]))
    lines = []
    for day, name in sorted(keys):
        metric = metrics[name]
        row = reported_by_day.get(day)
        # No TikTok row for the day (not pulled, or no delivery) is unknown: nothing to flag against.
        reported = row.metric(metric) if row is not None else None
        counts = sent.get((day, name), 0), acknowledged.get((day, name), 0)
        lines.append(AuditLine(day, name, metric, *counts, reported, _flags(counts[1], reported, thresholds)))
    return lines


def _flags(acknowledged: int, reported: Decimal | None, thresholds: AuditThresholds) -> tuple[str, ...]:
    if reported is None:
        return ()
    if acknowledged == 0 and reported > 0:
        return ("reported_never_sent",)
    if acknowledged >= thresholds.min_acknowledged and reported < acknowledged * thresholds.far_fewer_ratio:
        return ("far_fewer_reported",)
    return ()

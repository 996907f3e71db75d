"""Match-key coverage per event name: the share of events carrying each key TikTok matches on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from forwarder.reporting.forwarded import ForwardedEvent, unique

# Reported keys; `ip_user_agent` counts only events carrying both, as TikTok needs the pair to match.
MATCH_KEYS = ("email", "phone", "external_id", "idfa", "gaid", "ip_user_agent", "ttclid")


@dataclass(frozen=True)
class Coverage:
    """For one event name: how many events, and per key the share (0 to 1) that carried it."""

    event_name: str
    events: int
    shares: dict[str, Decimal]


def carries(event: ForwardedEvent, key: str) -> bool:
    """Whether the event carried a match key, `ip_user_agent` meaning both `ip` and `user_agent`."""
    if key == "ip_user_agent":
        return {"ip", "user_agent"} <= event.match_keys
    return key in event.match_keys


def coverage(events: Iterable[ForwardedEvent]) -> list[Coverage]:
    """Per event name (sorted), every event we forwarded counted once by event_id, acknowledged or not."""
    counts: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for event in unique(events):
        totals[event.event_name] = totals.get(event.event_name, 0) + 1
        per_key = counts.setdefault(event.event_name, dict.fromkeys(MATCH_KEYS, 0))
        for key in MATCH_KEYS:
            per_key[key] += carries(event, key)
    return [
        Coverage(name, totals[name], {key: Decimal(n) / totals[name] for key, n in counts[name].items()})
        for name in sorted(totals)
    ]

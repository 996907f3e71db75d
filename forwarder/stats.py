"""Per-destination and per-source figures, the same for `GET /v1/stats` and `forwarder stats`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .settings import Settings
from .store import Store

DESTINATION_METRICS = (
    "received",
    "accepted",
    "duplicates",
    "order_duplicates",
    "order_conflicts",
    "held",
    "released",
    "unmapped",
    "filtered",
    "denied",
    "no_lead_id",  # crm destinations: mapped events without a TikTok lead id
    "value_dropped",
    "pending",
    "in_flight",
    "delivered",
    "failed",
    "dead",
    "replayed",
    "retried",
)
SOURCE_METRICS = ("received", "rejected")
NOT_FORWARDED_NAMES = 20


async def collect_stats(
    store: Store, settings: Settings, now: float, descriptions: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Counters and queue depths for every configured destination and source (zeros included), no secrets.

    `descriptions` are each destination's own `describe()` (its kind and identifying settings).
    """
    raw = await store.stats(now)
    destinations: dict[str, Any] = {}
    for name in sorted(set(settings.destinations) | set(raw["destinations"])):
        found = raw["destinations"].get(name, {})
        described = descriptions.get(name)
        destinations[name] = {
            "kind": None,
            "event_source": None,
            "event_source_id": None,
            **(described or {}),
            "configured": described is not None,
            "state": "paused" if found.get("paused") else "active",
            "paused": found.get("paused"),
            **{metric: found.get(metric, 0) for metric in DESTINATION_METRICS},
            "oldest_pending_age_s": found.get("oldest_pending_age_s"),
            "last_error": found.get("last_error"),
        }
    sources = {
        name: {metric: raw["sources"].get(name, {}).get(metric, 0) for metric in SOURCE_METRICS}
        for name in sorted(set(settings.sources) | set(raw["sources"]))
    }
    # Events accepted and sent nowhere, by name, most frequent first: what a mapping rule may be missing.
    not_forwarded = await store.not_forwarded(NOT_FORWARDED_NAMES)
    return {"destinations": destinations, "sources": sources, "not_forwarded": not_forwarded}

"""The destination kinds, by the name a `[destinations.NAME]` section gives as `kind`: the one registry line a new
kind adds (besides its module, which implements `delivery/destination.py`'s protocol).

Each entry builds a configured destination from its settings and what destinations share in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from .delivery.destination import Destination
from .settings import DestinationSettings, Settings
from .tiktok.events_api import events_api_destination


@dataclass(frozen=True)
class Shared:
    """What every destination of one process shares: the HTTP connection pool and the secret scrubber."""

    http: httpx.AsyncClient
    scrub: Callable[[str], str] | None = None


DestinationFactory = Callable[[str, DestinationSettings, Settings, Shared], Destination]

KINDS: dict[str, DestinationFactory] = {
    "tiktok_events_api": events_api_destination,
}


def build_destinations(settings: Settings, shared: Shared) -> Mapping[str, Destination]:
    """A destination per configured `[destinations.NAME]`, built by its kind."""
    return {name: KINDS[d.kind](name, d, settings, shared) for name, d in settings.destinations.items()}


async def describe_destinations(settings: Settings) -> dict[str, dict[str, object]]:
    """Each configured destination's own description (kind and identifying, non-secret settings), for callers
    that hold no running destinations (the CLI): built on a client that never sends."""
    async with httpx.AsyncClient() as http:
        return {name: dict(d.describe()) for name, d in build_destinations(settings, Shared(http)).items()}

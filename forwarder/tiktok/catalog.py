"""TikTok's standard event names per event source, loaded from `standard_events.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

EventSource = Literal["web", "app", "offline", "crm"]
# Every event source of Events API 2.0, in the order a name's catalogue is looked for.
EVENT_SOURCES: tuple[EventSource, ...] = ("web", "app", "offline", "crm")


@dataclass(frozen=True)
class Catalog:
    standard: dict[str, frozenset[str]]
    replacements: dict[str, dict[str, str]]
    currencies: frozenset[str]

    def is_standard(self, event_source: str, name: str) -> bool:
        return name in self.standard.get(event_source, frozenset())

    def replacement(self, event_source: str, name: str) -> str | None:
        """The name to use instead of a deprecated or wrong-source one, if we know it."""
        return self.replacements.get(event_source, {}).get(name)


@cache
def load_catalog() -> Catalog:
    data = tomllib.loads(resources.files(__package__).joinpath("standard_events.toml").read_text())
    return Catalog(
        standard={source: frozenset(data[source]) for source in EVENT_SOURCES},
        replacements={source: dict(names) for source, names in data["replacements"].items()},
        currencies=frozenset(data["currencies"]),
    )

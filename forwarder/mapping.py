"""Mapping tables (TOML files in `mappings/`): which TikTok event an inbound event becomes."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import MappingError
from .tiktok.catalog import load_catalog

UnmappedPolicy = Literal["drop", "custom"]
_RULE_KEYS = {"event", "properties", "defaults"}


@dataclass(frozen=True)
class Rule:
    """Send an inbound event as `event`, with properties copied from paths and static defaults."""

    event: str
    properties: Mapping[str, str] = field(default_factory=dict)  # TikTok property -> dotted inbound path
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MappingTable:
    name: str
    path: Path
    rules: Mapping[str, Rule]


@dataclass(frozen=True)
class MappedEvent:
    """A TikTok event name and the inbound properties after the rule's paths and defaults."""

    event: str
    properties: dict[str, Any]
    rule_keys: frozenset[str] = frozenset()  # properties the rule set: forwarded even if TikTok has no such key
    is_custom: bool = False


def load_mappings(directory: Path) -> dict[str, MappingTable]:
    """Every `*.toml` in `directory`, keyed by file stem; any invalid file fails the whole load."""
    if not directory.is_dir():
        raise MappingError(str(directory), "", "mapping directory not found")
    tables = {path.stem: load_table(path) for path in sorted(directory.glob("*.toml"))}
    if not tables:
        raise MappingError(str(directory), "", "no *.toml mapping table in the directory")
    return tables


def load_table(path: Path) -> MappingTable:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise MappingError(str(path), "", f"invalid TOML: {error}") from None
    unknown = set(data) - {"events", "description"}
    if unknown:
        raise MappingError(str(path), sorted(unknown)[0], "unknown top-level key (expected [events])")
    events = data.get("events")
    if not isinstance(events, dict) or not events:
        raise MappingError(str(path), "events", "missing or empty [events] table")
    rules = {name: _parse_rule(path, f"events.{name}", spec) for name, spec in events.items()}
    return MappingTable(name=path.stem, path=path, rules=rules)


def _parse_rule(path: Path, key: str, spec: Any) -> Rule:
    if isinstance(spec, str):
        spec = {"event": spec}
    if not isinstance(spec, dict):
        raise MappingError(str(path), key, "must be a TikTok event name or a table with `event`")
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise MappingError(str(path), f"{key}.{sorted(unknown)[0]}", f"unknown key (allowed: {sorted(_RULE_KEYS)})")
    event = spec.get("event")
    if not isinstance(event, str) or not event.strip() or event != event.strip():
        raise MappingError(str(path), f"{key}.event", "must be a non-empty TikTok event name without spaces around")
    properties = spec.get("properties", {})
    if not isinstance(properties, dict) or not all(isinstance(v, str) and v for v in properties.values()):
        raise MappingError(str(path), f"{key}.properties", "must map TikTok property names to dotted paths")
    defaults = spec.get("defaults", {})
    if not isinstance(defaults, dict):
        raise MappingError(str(path), f"{key}.defaults", "must be a table of TikTok property values")
    return Rule(event=event, properties=properties, defaults=defaults)


def lookup(document: Mapping[str, Any], dotted: str) -> Any:
    """The value at `a.b.c` in nested dicts, or None."""
    value: Any = document
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def map_event(
    table: MappingTable,
    name: str,
    document: Mapping[str, Any],
    *,
    event_source: str,
    unmapped: UnmappedPolicy,
) -> MappedEvent | None:
    """What `name` becomes for one destination, or None when it is unmapped and dropped."""
    inbound = dict(document.get("properties") or {})
    rule = table.rules.get(name)
    if rule is None:
        if load_catalog().is_standard(event_source, name):
            return MappedEvent(event=name, properties=inbound)  # already a TikTok standard name
        return MappedEvent(event=name, properties=inbound, is_custom=True) if unmapped == "custom" else None
    for target, path in rule.properties.items():
        value = lookup(document, path)
        if value is not None:
            inbound[target] = value
    for target, value in rule.defaults.items():
        inbound.setdefault(target, value)
    return MappedEvent(event=rule.event, properties=inbound, rule_keys=frozenset(rule.properties) | set(rule.defaults))

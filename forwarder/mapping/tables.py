"""Mapping tables (TOML files in `mappings/`): which TikTok event(s) an inbound event becomes, and with what.

A table file:

    description = "..."
    unmapped = "drop"                   # or "custom": the table's policy for names without a rule
    allow = ["PURCHASE", "START_TRIAL"] # optional: only these inbound names; or deny = [...]
    [static]
    properties = { content_type = "product" }   # added to every event this table sends

    [events]                                    # inbound names match however they are written:
    START_TRIAL = "StartTrial"                  # start_trial, StartTrial, start-trial, "Start Trial" (names.py)
    LOGIN = ["Login", "CompleteTutorial"]        # one inbound event, several TikTok events
    [[events.SUBSCRIPTION]]                     # rules with conditions and property mappings
    event = "StartTrial"
    when = { "properties.period_type" = "TRIAL" }
    properties = { value = { path = "properties.price", type = "number", default = 0 } }
    defaults = { currency = "USD" }
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import MappingError
from .names import collisions, find, name_index, normalise_name
from .rules import Condition, PropertySource, parse_condition, parse_property_source

UnmappedPolicy = Literal["drop", "custom"]
_TABLE_KEYS = {"description", "unmapped", "allow", "deny", "static", "events"}
_RULE_KEYS = {"event", "properties", "defaults", "when"}


@dataclass(frozen=True)
class Rule:
    """Send an inbound event as `event` when every condition holds, with mapped and default properties."""

    event: str
    properties: Mapping[str, PropertySource] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    when: tuple[Condition, ...] = ()

    @functools.cached_property
    def keys(self) -> frozenset[str]:
        """The properties this rule sets: forwarded even when TikTok documents no such key."""
        return frozenset(self.properties) | frozenset(self.defaults)


@dataclass(frozen=True)
class MappingTable:
    name: str
    path: Path
    rules: Mapping[str, tuple[Rule, ...]]  # keyed by the inbound name as written in the file
    version: str = ""  # content hash: each outbox row records the version that produced it
    unmapped: UnmappedPolicy | None = None
    allow: frozenset[str] | None = None  # normalised inbound names (names.normalise_name)
    deny: frozenset[str] = frozenset()
    static_properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @functools.cached_property
    def _rule_keys(self) -> dict[str, str]:
        return name_index(self.rules)

    def rules_for(self, name: str) -> tuple[Rule, ...] | None:
        """The rules of inbound `name` however it is written (`StartTrial` finds `START_TRIAL`), or None."""
        key = find(self._rule_keys, name)
        return None if key is None else self.rules[key]

    def admits(self, name: str) -> bool:
        """Whether the table's allow / deny lists let inbound `name` through."""
        normalised = normalise_name(name)
        return normalised not in self.deny and (self.allow is None or normalised in self.allow)


@dataclass(frozen=True)
class MappedEvent:
    """A TikTok event name and the inbound properties after the rule's paths, defaults and static fields."""

    event: str
    properties: dict[str, Any]
    rule_keys: frozenset[str] = frozenset()  # properties the table set: forwarded even if TikTok has no such key
    is_custom: bool = False


@dataclass(frozen=True)
class MapResult:
    """What an inbound name became for one destination; `dropped` says why when nothing is sent."""

    events: list[MappedEvent]
    dropped: Literal["unmapped", "filtered", "denied"] | None = None


def load_mappings(directory: Path, contents: Mapping[Path, bytes] | None = None) -> dict[str, MappingTable]:
    """Every `*.toml` in `directory` (or `contents`, those files as read), keyed by file stem; any invalid file
    fails the whole load."""
    if not directory.is_dir():
        raise MappingError(str(directory), "", "mapping directory not found")
    if contents is None:
        tables = {path.stem: load_table(path) for path in sorted(directory.glob("*.toml"))}
    else:
        tables = {path.stem: load_table(path, raw) for path, raw in sorted(contents.items())}
    if not tables:
        raise MappingError(str(directory), "", "no *.toml mapping table in the directory")
    return tables


def load_table(path: Path, raw: bytes | None = None) -> MappingTable:
    if raw is None:
        raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MappingError(str(path), "", f"invalid TOML: {error}") from None
    file = str(path)
    unknown = set(data) - _TABLE_KEYS
    if unknown:
        raise MappingError(file, sorted(unknown)[0], f"unknown top-level key (allowed: {sorted(_TABLE_KEYS)})")
    events = data.get("events")
    if not isinstance(events, dict) or not events:
        raise MappingError(file, "events", "missing or empty [events] table")
    unmapped = data.get("unmapped")
    if unmapped not in (None, "drop", "custom"):
        raise MappingError(file, "unmapped", 'must be "drop" or "custom"')
    if "allow" in data and "deny" in data:
        raise MappingError(file, "allow", "use either allow or deny, not both")
    allow = _names(file, "allow", data.get("allow"))
    deny = _names(file, "deny", data.get("deny")) or frozenset()
    static = data.get("static", {})
    if (
        not isinstance(static, dict)
        or set(static) - {"properties"}
        or not isinstance(static.get("properties", {}), dict)
    ):
        raise MappingError(file, "static", "must be a table with a `properties` table")
    if clashes := collisions(events):
        first, second = clashes[0]  # one table, two rules for one name: which one applies would be a guess
        reason = f"events.{first} and events.{second} match the same inbound name (case, _, - and spaces are ignored)"
        raise MappingError(file, f"events.{second}", reason)
    rules = {name: _parse_rules(file, f"events.{name}", spec) for name, spec in events.items()}
    return MappingTable(
        name=path.stem,
        path=path,
        rules=rules,
        version=hashlib.sha256(raw).hexdigest()[:12],
        unmapped=unmapped,
        allow=allow,
        deny=deny,
        static_properties=dict(static.get("properties", {})),
    )


def _names(file: str, key: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MappingError(file, key, "must be a list of inbound event names")
    return frozenset(normalise_name(v) for v in value)


def _parse_rules(file: str, key: str, spec: Any) -> tuple[Rule, ...]:
    specs = spec if isinstance(spec, list) else [spec]
    if not specs:
        raise MappingError(file, key, "must name at least one TikTok event")
    return tuple(_parse_rule(file, f"{key}.{i}" if len(specs) > 1 else key, s) for i, s in enumerate(specs))


def _parse_rule(file: str, key: str, spec: Any) -> Rule:
    if isinstance(spec, str):
        spec = {"event": spec}
    if not isinstance(spec, dict):
        raise MappingError(file, key, "must be a TikTok event name or a table with `event`")
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise MappingError(file, f"{key}.{sorted(unknown)[0]}", f"unknown key (allowed: {sorted(_RULE_KEYS)})")
    event = spec.get("event")
    if not isinstance(event, str) or not event.strip() or event != event.strip():
        raise MappingError(file, f"{key}.event", "must be a non-empty TikTok event name without spaces around")
    properties = spec.get("properties", {})
    if not isinstance(properties, dict):
        raise MappingError(file, f"{key}.properties", "must map TikTok property names to dotted paths")
    defaults = spec.get("defaults", {})
    if not isinstance(defaults, dict):
        raise MappingError(file, f"{key}.defaults", "must be a table of TikTok property values")
    when = spec.get("when", {})
    if not isinstance(when, dict):
        raise MappingError(file, f"{key}.when", "must map dotted paths to the values they must have")
    sources = {}
    for target, source in properties.items():
        try:
            sources[target] = parse_property_source(source)
        except ValueError as error:
            raise MappingError(file, f"{key}.properties.{target}", str(error)) from None
    try:
        conditions = tuple(parse_condition(path, test) for path, test in when.items())
    except ValueError as error:
        raise MappingError(file, f"{key}.when", str(error)) from None
    return Rule(event=event, properties=sources, defaults=defaults, when=conditions)


def map_event(
    table: MappingTable,
    name: str,
    document: Mapping[str, Any],
    *,
    native: Callable[[str], bool],
    unmapped: UnmappedPolicy | None = None,
) -> MapResult:
    """What inbound event `name` becomes for one destination: zero, one or several TikTok events.

    `native` says whether a name is already the destination's own (its kind knows: for TikTok, a standard event of
    the destination's event source). `unmapped` (the destination's policy) overrides the table's own; the default is
    to drop.
    """
    if not table.admits(name):
        return MapResult([], "denied")
    inbound = document.get("properties") or {}
    static = table.static_properties
    rules = table.rules_for(name)
    if rules is None:
        policy = unmapped or table.unmapped or "drop"
        # Only the destination's own spelling passes through: `PURCHASE` without a rule is not sent, so that removing
        # a rule stops an SDK name (and a reload's names-in-use check can say so).
        if native(name):
            return MapResult([_with_static(MappedEvent(name, dict(inbound)), static)])  # already a TikTok name
        if policy == "custom":
            return MapResult([_with_static(MappedEvent(name, dict(inbound), is_custom=True), static)])
        return MapResult([], "unmapped")
    events = [_apply(rule, inbound, document, static) for rule in rules if _holds(rule, document)]
    return MapResult(events, None if events else "filtered")


def maps_name(
    table: MappingTable, name: str, *, native: Callable[[str], bool], unmapped: UnmappedPolicy | None = None
) -> bool:
    """Whether `map_event` may send anything for inbound `name` (a rule whose conditions fail still counts)."""
    if not table.admits(name):
        return False
    if table.rules_for(name) is not None:
        return True
    return (unmapped or table.unmapped or "drop") == "custom" or native(name)


def _holds(rule: Rule, document: Mapping[str, Any]) -> bool:
    return not rule.when or all(condition.holds(lookup(document, condition.path)) for condition in rule.when)


def _apply(
    rule: Rule, inbound: Mapping[str, Any], document: Mapping[str, Any], static: Mapping[str, Any]
) -> MappedEvent:
    properties = dict(inbound)
    for target, source in rule.properties.items():
        value = source.resolve(lookup(document, source.path))
        if value is not None:
            properties[target] = value
    for target, value in rule.defaults.items():
        properties.setdefault(target, value)
    return _with_static(MappedEvent(rule.event, properties, rule.keys), static)


def _with_static(mapped: MappedEvent, static: Mapping[str, Any]) -> MappedEvent:
    if not static:
        return mapped
    return MappedEvent(
        mapped.event, {**mapped.properties, **static}, mapped.rule_keys | frozenset(static), mapped.is_custom
    )


def lookup(document: Mapping[str, Any], dotted: str) -> Any:
    """The value at `a.b.c` in nested dicts (and `a.0.b` in lists), or None."""
    value: Any = document
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value

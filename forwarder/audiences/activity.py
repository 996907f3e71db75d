"""Which events past-behaviour rules and goals count, compiled once per settings snapshot: an inbound event to
the `ActivityRecord`s ingest stores with it (hashed user only). Events no rule or goal names cost a set lookup.

A counted event is keyed by its normalised name and, when the rule has `when` conditions, a digest of them: two
rules counting PURCHASE under different conditions count apart, and editing a rule's `when` starts a new count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..mapping.names import normalise_name
from ..mapping.rules import Condition, parse_condition
from ..mapping.tables import lookup
from ..settings_audiences import AudienceSettings
from ..store.audiences import ActivityRecord


def activity_key(event: str, when: Mapping[str, Any]) -> str:
    """The name a counted event is stored under: PURCHASE, or PURCHASE?<digest of the conditions>."""
    name = normalise_name(event)
    if not when:
        return name
    digest = hashlib.sha256(json.dumps(dict(when), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{name}?{digest}"


class ActivityRules:
    """Every (kind, key) some past-behaviour rule (`did`, `not_did`) or goal names, with its conditions."""

    def __init__(self, audiences: Mapping[str, AudienceSettings]) -> None:
        wanted: dict[tuple[str, str], tuple[str, tuple[Condition, ...]]] = {}

        def want(kind: str, event: str, when: Mapping[str, Any]) -> None:
            conditions = tuple(parse_condition(path, test) for path, test in when.items())
            wanted[kind, activity_key(event, when)] = (normalise_name(event), conditions)

        for audience in audiences.values():
            if audience.past is not None:
                want("activity", audience.past.did, audience.past.when)
                if audience.past.not_did:
                    want("activity", audience.past.not_did, {})
            if audience.goal is not None:
                want("goal", audience.goal.event, audience.goal.when)
        self._wanted = [(kind, key, name, when) for (kind, key), (name, when) in wanted.items()]
        self.names = frozenset(name for _, _, name, _ in self._wanted)

    def records(
        self, event: str, event_id: str, document: Mapping[str, Any], ids: str, at: float, consent: str | None
    ) -> list[ActivityRecord]:
        name = normalise_name(event)
        if name not in self.names:
            return []
        value = _number(lookup(document, "properties.value"))
        return [
            ActivityRecord(kind, key, event_id, ids, at, value, consent)
            for kind, key, rule_name, when in self._wanted
            if rule_name == name and all(c.holds(lookup(document, c.path)) for c in when)
        ]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None

"""Live audience rules, compiled once per settings snapshot: which audiences an inbound event enters, cancels or
leaves, as `AudienceSignal`s ingest stores with the event (the ledger applies them in the same transaction).

Identifiers are read from the hashed user block (never raw): email and phone as the Events API hashes them
(trimmed, lower-cased email; E.164 phone), IDFA and GAID trimmed, lower-cased and hashed (the peers' majority;
TikTok does not say which case it matches), external_id to recognise the user only (TikTok's segment API takes
no external id). Which hash variant TikTok matches on for audiences is not documented: README says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..mapping.names import normalise_name
from ..mapping.rules import Condition, parse_condition
from ..mapping.tables import lookup
from ..settings_audiences import AudienceSettings, EventRule
from ..store.audiences import ActivityRecord, AudienceSignal
from .activity import ActivityRules

_DENIED_ATT = frozenset({"DENIED", "RESTRICTED"})


@dataclass(frozen=True)
class _Rule:
    name: str  # normalised inbound name
    when: tuple[Condition, ...]

    def holds(self, name: str, document: Mapping[str, Any]) -> bool:
        return name == self.name and all(c.holds(lookup(document, c.path)) for c in self.when)


def _rule(rule: EventRule) -> _Rule:
    return _Rule(normalise_name(rule.event), tuple(parse_condition(path, test) for path, test in rule.when.items()))


@dataclass(frozen=True)
class _Audience:
    name: str
    enter: _Rule
    unless: _Rule | None
    unless_s: float | None
    exit: _Rule | None
    ttl_s: float | None
    sync_types: str  # JSON list, as the ledger takes it
    sync_limited_data_use: bool
    sync_att_denied: bool
    holdout_share: float
    holdout_key: str | None


class AudienceRules:
    """Every configured audience's live rules; `signals` costs a set lookup for events no rule names."""

    def __init__(self, audiences: Mapping[str, AudienceSettings]) -> None:
        self._audiences = [
            _Audience(
                name,
                _rule(a.enter),
                _rule(a.unless) if a.unless else None,
                a.unless.within_s if a.unless else None,
                _rule(a.exit) if a.exit else None,
                a.ttl_s,
                json.dumps(list(a.identifiers)),
                a.sync_limited_data_use,
                a.sync_att_denied,
                a.holdout_share,
                a.holdout_key,
            )
            for name, a in audiences.items()
            if a.enter is not None  # past-behaviour audiences are decided by their runs (past.py)
        ]
        self.activity = ActivityRules(audiences)
        self.names = frozenset(
            rule.name
            for a in self._audiences
            for rule in (a.enter, a.unless, a.exit)
            if rule is not None
        ) | self.activity.names  # fmt: skip

    def signals(
        self, event: str, event_id: str, document: Mapping[str, Any], at: float, limited_data_use: bool
    ) -> list[AudienceSignal]:
        """The audience signals of one event; `document` is the mapping document (hashed user included)."""
        name = normalise_name(event)
        if name not in self.names:
            return []
        user = document.get("user") or {}
        device = document.get("device") or {}
        ids = json.dumps(identifiers(user, device), sort_keys=True)
        att = str(device.get("att_status") or user.get("att_status") or "").upper()
        found = []
        for a in self._audiences:
            consent = (
                "limited_data_use"
                if limited_data_use and not a.sync_limited_data_use
                else "att_denied"
                if att in _DENIED_ATT and not a.sync_att_denied
                else None
            )
            if a.enter.holds(name, document):
                due = at + a.unless_s if a.unless_s is not None else None
                expires = (due or at) + a.ttl_s if a.ttl_s is not None else None
                found.append(AudienceSignal(a.name, "enter", event_id, ids, a.sync_types, at, due, expires, consent,
                                            a.holdout_share, a.holdout_key))  # fmt: skip
            if a.unless is not None and a.unless.holds(name, document):
                found.append(AudienceSignal(a.name, "cancel", event_id, ids, a.sync_types, at, None, None, consent))
            if a.exit is not None and a.exit.holds(name, document):
                found.append(AudienceSignal(a.name, "exit", event_id, ids, a.sync_types, at, None, None, consent))
        return found

    def counted(
        self, event: str, event_id: str, document: Mapping[str, Any], at: float, limited_data_use: bool
    ) -> list[ActivityRecord]:
        """What past-behaviour rules and goals count of this event (audiences/activity.py)."""
        if normalise_name(event) not in self.activity.names:
            return []
        user = document.get("user") or {}
        device = document.get("device") or {}
        ids = json.dumps(identifiers(user, device), sort_keys=True)
        att = str(device.get("att_status") or user.get("att_status") or "").upper()
        denied = "limited_data_use" if limited_data_use else "att_denied" if att in _DENIED_ATT else None
        return self.activity.records(event, event_id, document, ids, at, denied)


def identifiers(user: Mapping[str, Any], device: Mapping[str, Any]) -> dict[str, str]:
    """The user's hashed identifiers, one per type (the first given), by the ledger's type names."""
    found: dict[str, str] = {}
    for kind in ("email", "phone", "external_id"):
        value = user.get(kind)
        first = value[0] if isinstance(value, list) and value else value
        if isinstance(first, str) and first:
            found[kind] = first
    for kind in ("idfa", "gaid"):
        value = user.get(kind) or device.get(kind)
        if isinstance(value, str) and value.strip() and value.strip("0-") != "":
            found[kind] = hash_device_id(value)
    return found


def hash_device_id(value: str) -> str:
    text = value.strip().lower()
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text  # sent already hashed
    return hashlib.sha256(text.encode()).hexdigest()

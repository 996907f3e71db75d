"""Preview a mapping change: replay stored inbound events through the current and a candidate set of tables."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from ..events import InboundEvent, utc_iso
from ..settings import Settings
from ..store import InboundRecord
from .check import EventNameCheck
from .payloads import PayloadBuilder
from .planning import Plan, Routing
from .tables import MappingTable

KINDS = ("renamed", "newly_dropped", "newly_sent", "properties_changed", "invalid_for_tiktok", "newly_rejected")
EXAMPLES_PER_KIND = 5


@dataclass
class DiffReport:
    replayed: int = 0
    unchanged: int = 0
    skipped: int = 0  # events whose source is no longer configured, or that no longer parse
    first_at: float | None = None
    last_at: float | None = None
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # destination -> kind
    examples: dict[str, dict[str, list[dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )

    def add(self, destination: str, kind: str, example: dict[str, Any]) -> None:
        self.counts[destination][kind] += 1
        if len(self.examples[destination][kind]) < EXAMPLES_PER_KIND:
            self.examples[destination][kind].append(example)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "from": utc_iso(self.first_at) if self.first_at else None,
            "to": utc_iso(self.last_at) if self.last_at else None,
            "destinations": {
                name: {kind: {"count": counts[kind], "examples": self.examples[name][kind]} for kind in counts}
                for name, counts in sorted(self.counts.items())
            },
        }


def _sent(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    sent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in plan.items:
        sent[item.destination].append(json.loads(item.payload))
    return sent


def diff_mappings(
    settings: Settings,
    current: dict[str, MappingTable],
    candidate: dict[str, MappingTable],
    records: list[tuple[float, InboundRecord]],
    payloads: PayloadBuilder,
    check_event_name: EventNameCheck,
) -> DiffReport:
    """What would change, per destination, had `candidate` served instead of `current` for these events."""
    before_routing, after_routing = Routing(settings, current, payloads), Routing(settings, candidate, payloads)
    report = DiffReport()
    for received_at, record in reversed(records):  # oldest first: examples read in the order they arrived
        if record.source not in settings.sources:
            report.skipped += 1
            continue
        try:
            raw = orjson.loads(record.document)
            event = InboundEvent.model_validate(raw)
        except (ValidationError, orjson.JSONDecodeError):
            report.skipped += 1
            continue
        report.replayed += 1
        report.first_at = min(report.first_at or received_at, received_at)
        report.last_at = max(report.last_at or received_at, received_at)
        # Time rules are judged as at ingest, so replaying old events does not reject them as too old.
        before = before_routing.plan(event, record.source, received_at, raw)
        after = after_routing.plan(event, record.source, received_at, raw)
        if not _compare(report, settings, record, before, after, check_event_name):
            report.unchanged += 1
    return report


def _compare(
    report: DiffReport,
    settings: Settings,
    record: InboundRecord,
    before: Plan,
    after: Plan,
    check_event_name: EventNameCheck,
) -> bool:
    """Record every difference for one event; whether there was any."""
    base = {"event_id": record.event_id, "inbound_event": record.event}
    if after.errors and not before.errors:
        for name in settings.destinations:
            report.add(name, "newly_rejected", {**base, "errors": after.errors})
        return True
    sent_before, sent_after = _sent(before), _sent(after)
    changed = False
    for name, destination in settings.destinations.items():
        old, new = sent_before.get(name, []), sent_after.get(name, [])
        old_names, new_names = [e["event"] for e in old], [e["event"] for e in new]
        for event_name in set(new_names) - set(old_names):
            problem = check_event_name("", "", event_name, destination.event_source, name)
            if problem is not None and problem.level == "error":
                report.add(name, "invalid_for_tiktok", {**base, "event": event_name, "reason": problem.reason})
                changed = True
        if old and not new:
            report.add(name, "newly_dropped", {**base, "before": old_names, "reason": after.dropped.get(name)})
        elif new and not old:
            report.add(name, "newly_sent", {**base, "after": new_names})
        elif old_names != new_names:
            report.add(name, "renamed", {**base, "before": old_names, "after": new_names})
        elif old != new:
            keys = sorted(
                {key for o, n in zip(old, new, strict=True) for key in _changed_keys(o["properties"], n["properties"])}
            )
            report.add(name, "properties_changed", {**base, "event": new_names, "properties": keys})
        else:
            continue
        changed = True
    return changed


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def render_text(report: DiffReport, current_dir: str, candidate_dir: str) -> str:
    data = report.as_dict()
    lines = [
        f"Replayed {report.replayed} stored events ({data['from']} to {data['to']}) through {current_dir} (current) "
        f"and {candidate_dir} (candidate); {report.unchanged} unchanged, {report.skipped} skipped."
    ]
    if not report.counts:
        lines.append("No destination would see a difference.")
    for name, kinds in data["destinations"].items():
        lines.append(f"destination {name}:")
        for kind in KINDS:
            if kind not in kinds:
                continue
            lines.append(f"  {kind.replace('_', ' '):<20} {kinds[kind]['count']:>6}")
            for example in kinds[kind]["examples"]:
                lines.append(f"      e.g. {json.dumps(example, ensure_ascii=False)}")
    return "\n".join(lines)

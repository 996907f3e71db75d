"""Which inbound event names each destination mapped lately, so a reload cannot silently stop mapping them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .planning import Plan, Routing
from .tables import maps_name

RECENT_S = 3600.0  # a name traffic used within this long is "in use"
_MAX_PAIRS = 10_000  # names come from clients: bound what they can make us keep
_PRUNE_EVERY_S = 60.0


class RecentNames:
    """(destination, inbound event name) -> when an event of that name last mapped to something there."""

    def __init__(self, max_pairs: int = _MAX_PAIRS) -> None:
        self.last_seen: dict[tuple[str, str], float] = {}
        self._max_pairs = max_pairs
        self._pruned_at = 0.0

    def note(self, plans: Sequence[Plan], names: Sequence[str], now: float) -> None:
        """Called by ingest once per request: one dict update per (destination, name) the request mapped."""
        seen = self.last_seen
        for plan, name in zip(plans, names, strict=True):
            for item in plan.items:
                pair = (item.destination, name)
                if pair in seen or self._has_room(now):
                    seen[pair] = now
            for destination, reason in plan.dropped.items():
                # A rule whose conditions failed still maps the name: removing the rule changes what is sent.
                if reason == "filtered" and ((destination, name) in seen or self._has_room(now)):
                    seen[destination, name] = now

    def _has_room(self, now: float) -> bool:
        if len(self.last_seen) < self._max_pairs:
            return True
        if now - self._pruned_at >= _PRUNE_EVERY_S:
            self._pruned_at = now
            for pair in [pair for pair, at in self.last_seen.items() if now - at >= RECENT_S]:
                del self.last_seen[pair]
        return len(self.last_seen) < self._max_pairs

    def in_use(self, now: float) -> dict[str, set[str]]:
        """Destination -> the inbound names it mapped within RECENT_S."""
        used: dict[str, set[str]] = {}
        for (destination, name), at in list(self.last_seen.items()):
            if now - at < RECENT_S:
                used.setdefault(destination, set()).add(name)
        return used


def names_dropped(current: Routing, candidate: Routing, in_use: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Per destination: the names in use that `current` maps and `candidate` would not (unmapped, denied, or the
    destination gone)."""
    dropped = []
    for destination, names in sorted(in_use.items()):
        old = current.settings.destinations.get(destination)
        if old is None or old.mapping not in current.tables:
            continue  # not mapped now: nothing to lose
        old_table = current.tables[old.mapping]
        native = current.payloads.native(old)
        now_mapped = {n for n in names if maps_name(old_table, n, native=native, unmapped=old.unmapped)}
        new = candidate.settings.destinations.get(destination)
        if new is None or new.mapping not in candidate.tables:
            lost, table = now_mapped, new.mapping if new else None
        else:
            new_table = candidate.tables[new.mapping]
            lost = {
                n
                for n in now_mapped
                if not maps_name(new_table, n, native=candidate.payloads.native(new), unmapped=new.unmapped)
            }
            table = new_table.label
        if lost:
            dropped.append({"destination": destination, "table": table, "names": sorted(lost)})
    return dropped

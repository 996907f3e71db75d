"""Fields of an inbound event we neither know nor use: answered as warnings (`usr`: did you mean `user`?), never
refused, so a typo does not silently drop the user data it held."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import BaseModel

from ..events import PARTS, InboundEvent
from .tables import MappingTable

MAX_WARNINGS = 10  # per event: the answer stays small whatever the sender puts in


def rule_paths(tables: Iterable[MappingTable]) -> frozenset[str]:
    """The first two segments (`custom`, `user.plan`) of every path a mapping rule reads: fields in use."""
    paths: set[str] = set()
    for table in tables:
        for rules in table.rules.values():
            for rule in rules:
                for path in [source.path for source in rule.properties.values()] + [c.path for c in rule.when]:
                    parts = path.split(".")
                    paths.update((parts[0], ".".join(parts[:2])))
    return frozenset(paths)


def unknown_fields(event: InboundEvent, used: frozenset[str]) -> list[dict[str, str]]:
    """`{"field", "message"}` per field of the event (top level, or in user, device, app, page) that is not ours
    and that no mapping rule reads."""
    warnings = _unknown(event, "", used)
    for name in PARTS:
        part = getattr(event, name)
        if part is not None and part.model_extra:
            warnings += _unknown(part, f"{name}.", used)
    return warnings[:MAX_WARNINGS]


def _unknown(model: BaseModel, prefix: str, used: frozenset[str]) -> list[dict[str, str]]:
    extra = model.model_extra
    if not extra:
        return []
    known = list(type(model).model_fields)
    warnings = []
    for name in list(extra)[:MAX_WARNINGS]:
        if prefix + name in used:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {prefix}{close[0]}?" if close else "not sent to TikTok (a mapping rule may read it)"
        warnings.append({"field": (prefix + name)[:128], "message": f"unknown field; {hint}"})
    return warnings

"""Events accepted and sent nowhere: why, per event for the answer, per name for the store, the log and metrics.

An event is sent nowhere when no destination takes its source (or app), or when every destination that does
drops it: no rule maps its name (`unmapped`), its rules' conditions all fail (`filtered`), or the table's
allow / deny list refuses it (`denied`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from ..store import NotForwarded
from .planning import Plan

log = structlog.get_logger(__name__)

LOG_EVERY_S = 60.0  # one log line per name per minute at most, with how many events it stands for
_MAX_NAMES = 1_000  # names come from clients: bound what the log limiter remembers


def reason(plan: Plan) -> str | None:
    """Why a planned event goes nowhere (one word), or None when it goes somewhere."""
    if plan.items:
        return None
    reasons = set(plan.dropped.values())
    if not reasons:
        return "no_destination"
    return reasons.pop() if len(reasons) == 1 else "mixed"


def tally(source: str, events: Sequence[tuple[str, str, str]]) -> list[NotForwarded]:
    """One row per (name, reason) from `(name, reason, event_id)` per event sent nowhere; the last id is the
    sample."""
    rows: dict[tuple[str, str], NotForwarded] = {}
    for name, why, event_id in events:
        seen = rows.get((name, why))
        rows[name, why] = NotForwarded(name, source, why, (seen.events if seen else 0) + 1, event_id)
    return list(rows.values())


class QuietLog:
    """Logs `ingest.not_forwarded` at most once per name every LOG_EVERY_S, with the count since the last line:
    an SDK sending a thousand unmapped events a second must not flood the log, nor be silent."""

    def __init__(self, every_s: float = LOG_EVERY_S, max_names: int = _MAX_NAMES, logger: Any = None) -> None:
        self._log = log if logger is None else logger
        self._every_s = every_s
        self._max_names = max_names
        self._logged: dict[str, tuple[float, int]] = {}  # name -> (when last logged, events since)

    def note(self, rows: Sequence[NotForwarded], now: float) -> None:
        for row in rows:
            key = row.event if row.event in self._logged or self._has_room(now) else "(other names)"
            logged_at, waiting = self._logged.get(key, (float("-inf"), 0))
            if now - logged_at < self._every_s:
                self._logged[key] = (logged_at, waiting + row.events)
                continue
            self._logged[key] = (now, 0)
            self._log.warning(
                "ingest.not_forwarded",
                name=key,
                source=row.source,
                reason=row.reason,
                count=waiting + row.events,
                sample_event_id=row.event_id,
            )

    def _has_room(self, now: float) -> bool:
        if len(self._logged) < self._max_names:
            return True
        for name in [n for n, (at, waiting) in self._logged.items() if now - at >= self._every_s and not waiting]:
            del self._logged[name]
        return len(self._logged) < self._max_names

"""Which dead letters to list or replay, from query parameters, a JSON body or CLI options (API and CLI alike)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .events import parse_timestamp
from .store.base import DeadFilter

MAX_LIMIT = 100_000
FILTERS = ("destination", "since", "until", "tiktok_code", "event", "event_id")


def is_narrowed(where: DeadFilter) -> bool:
    """True when at least one filter picks which dead letters (a limit alone does not)."""
    return bool(where.conditions())


MAX_TEXT = 256  # a destination or event name; longer ones name nothing that exists
_INT32 = 2**31 - 1  # tiktok_code is an `integer` column on PostgreSQL
_WHOLE = re.compile(r"-?[0-9]{1,20}")


def dead_filter(values: Mapping[str, Any]) -> DeadFilter:
    """A DeadFilter from query parameters, a JSON body or CLI options; ValueError names the bad field."""
    unknown = set(values) - {*FILTERS, "limit"}
    if unknown:
        raise ValueError(f"{_printable(sorted(unknown)[0])}: unknown filter")

    def time_of(name: str) -> float | None:
        if values.get(name) in (None, ""):
            return None
        try:
            return float(parse_timestamp(values[name]))
        except (ValueError, OverflowError) as error:
            raise ValueError(f"{name}: {error}") from None

    def integer(name: str, low: int, high: int) -> int | None:
        value = values.get(name)
        if value in (None, ""):
            return None
        # Whole numbers only, as JSON numbers or digits: no bools, no 1.5, no NaN, no 23-digit codes.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
            value = int(value)
        if type(value) is not int:
            raise ValueError(f"{name}: must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"{name}: must be between {low} and {high}")
        return value

    def text(name: str) -> str | None:
        value = values.get(name)
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise ValueError(f"{name}: must be a string")
        if len(value) > MAX_TEXT or "\x00" in value:
            raise ValueError(f"{name}: must be at most {MAX_TEXT} characters, without NUL")
        return value

    limit = integer("limit", 1, MAX_LIMIT)
    return DeadFilter(
        destination=text("destination"),
        since=time_of("since"),
        until=time_of("until"),
        tiktok_code=integer("tiktok_code", -_INT32, _INT32),
        event=text("event"),
        event_id=text("event_id"),
        limit=1000 if limit is None else limit,
    )


def _printable(name: str) -> str:
    """An unknown filter's name as an answer may repeat it: short, NUL spelled out."""
    return name[:64].replace("\x00", "\\u0000")

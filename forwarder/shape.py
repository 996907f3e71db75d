"""Bounds on the shape of a posted event that no field schema states: nesting depth and NUL characters.

Both are checked in one walk over the parsed event, before the model sees it. The parser reads JSON up to 1,024
levels deep but the encoder writes at most 255, so a deeper free-form field (`properties`, extra keys) once failed
its whole batch with a 500; and PostgreSQL refuses U+0000 in text and JSONB where SQLite takes it, so a NUL once
blocked a batch on one backend only. Both backends now see the same inputs.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32  # levels of objects and lists in one event, the event object itself being level 1

_MAX_FIELD = 256
_TOO_DEEP = f"is nested more than {MAX_DEPTH} levels deep"
_NUL = "contains a NUL character (U+0000)"
_NUL_KEY = "has a key that contains a NUL character (U+0000)"


def shape_problem(event: dict[str, Any]) -> dict[str, str] | None:
    """The first field too deep or holding a NUL (in a key or a string), as `{"field", "message"}`; else None."""
    found = _walk_object(event, 1)
    if found is None:
        return None
    path, message = found
    field = ".".join(reversed(path))
    # Keys come from the client: bound what an answer and a log line repeat of them.
    return {"field": field if len(field) <= _MAX_FIELD else field[: _MAX_FIELD - 1] + "…", "message": message}


# The walk builds the path only on the way back from a problem: the hot path allocates nothing. Leaves are
# checked inline, so a function call is made per container (~5 in an event), not per value (~30).
def _walk_object(node: dict[Any, Any], depth: int) -> tuple[list[str], str] | None:
    for key, value in node.items():
        if "\x00" in key:
            return [_printable(key)], _NUL_KEY
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return [key], _NUL
        elif kind is dict or kind is list:
            if depth >= MAX_DEPTH:
                return [key], _TOO_DEEP
            found = _walk_object(value, depth + 1) if kind is dict else _walk_list(value, depth + 1)
            if found is not None:
                found[0].append(key)
                return found
    return None


def _walk_list(node: list[Any], depth: int) -> tuple[list[str], str] | None:
    for index, value in enumerate(node):
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return [str(index)], _NUL
        elif kind is dict or kind is list:
            if depth >= MAX_DEPTH:
                return [str(index)], _TOO_DEEP
            found = _walk_object(value, depth + 1) if kind is dict else _walk_list(value, depth + 1)
            if found is not None:
                found[0].append(str(index))
                return found
    return None


def _printable(key: str) -> str:
    """The key as it can be named in an answer and a log line: NUL spelled as JSON spells it."""
    return key.replace("\x00", "\\u0000")

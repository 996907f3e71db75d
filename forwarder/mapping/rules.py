"""The small pieces of a mapping rule: where a property comes from (with type coercion) and when a rule applies."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import PayloadError

PropertyType = Literal["string", "number", "integer", "boolean"]
_TYPES = ("string", "number", "integer", "boolean")
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_OPERATORS = {"eq", "ne", "in", "not_in", "exists", *_COMPARISONS}


@dataclass(frozen=True)
class PropertySource:
    """`path` in the inbound event, coerced to `type`, or `default` when the event has nothing there."""

    path: str
    type: PropertyType | None = None
    default: Any = None

    def resolve(self, value: Any) -> Any:
        if value is None:
            return self.default
        if self.type is None:
            return value
        try:
            return _coerce(value, self.type)
        except (TypeError, ValueError):
            raise PayloadError(self.path, f"cannot be read as {self.type}") from None


def _coerce(value: Any, kind: PropertyType) -> Any:
    if kind == "string":
        if isinstance(value, dict | list):
            raise TypeError(kind)
        return str(value).strip()
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError(kind)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(kind)
    number = float(value)
    if kind == "integer":
        if not number.is_integer():
            raise ValueError(kind)
        return int(number)
    return int(number) if isinstance(value, int) else number


def parse_property_source(spec: Any) -> PropertySource:
    if isinstance(spec, str) and spec:
        return PropertySource(spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not spec["path"]:
        raise ValueError("each property is a dotted path, or a table with `path` (and optional `type`, `default`)")
    unknown = set(spec) - {"path", "type", "default"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (allowed: path, type, default)")
    kind = spec.get("type")
    if kind is not None and kind not in _TYPES:
        raise ValueError(f"type must be one of {', '.join(_TYPES)}")
    return PropertySource(spec["path"], kind, spec.get("default"))


@dataclass(frozen=True)
class Condition:
    """`path` must satisfy `op` against `operand`; a missing value satisfies only `ne`, `not_in`, `exists=false`."""

    path: str
    op: str
    operand: Any

    def holds(self, value: Any) -> bool:
        if self.op == "exists":
            return (value is not None) == bool(self.operand)
        if self.op == "eq":
            return bool(value == self.operand)
        if self.op == "ne":
            return bool(value != self.operand)
        if self.op == "in":
            return value in self.operand
        if self.op == "not_in":
            return value not in self.operand
        try:
            return value is not None and _COMPARISONS[self.op](float(value), float(self.operand))
        except (TypeError, ValueError):
            return False


def parse_condition(path: str, test: Any) -> Condition:
    """`"x"`: equal; `["x", "y"]`: one of; `{op = value}`: op in eq, ne, in, not_in, exists, gt, gte, lt, lte."""
    if isinstance(test, list):
        return Condition(path, "in", tuple(test))
    if not isinstance(test, dict):
        return Condition(path, "eq", test)
    if len(test) != 1 or next(iter(test)) not in _OPERATORS:
        raise ValueError(f"{path}: a test is a value, a list, or one of {{{', '.join(sorted(_OPERATORS))}}} = value")
    op, operand = next(iter(test.items()))
    if op in ("in", "not_in"):
        if not isinstance(operand, list):
            raise ValueError(f"{path}: `{op}` takes a list")
        operand = tuple(operand)
    if op in _COMPARISONS and (isinstance(operand, bool) or not isinstance(operand, int | float)):
        raise ValueError(f"{path}: `{op}` takes a number")
    return Condition(path, op, operand)

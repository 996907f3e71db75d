"""The one walk over a posted event: nesting depth and NUL characters, with the field named."""

from __future__ import annotations

from typing import Any

from forwarder.shape import MAX_DEPTH, shape_problem
from tests.conftest import event


def levels(count: int) -> Any:
    """`count` levels of containers below the event, alternating objects and lists."""
    value: Any = "leaf"
    for level in range(count):
        value = {"k": value} if level % 2 else [value]
    return value


def test_the_readme_event_passes() -> None:
    assert shape_problem(event()) is None


def test_nesting_up_to_the_limit_passes_and_one_more_level_is_named() -> None:
    assert shape_problem({"event": "X", "properties": levels(MAX_DEPTH - 1)}) is None  # properties is level 2
    problem = shape_problem({"event": "X", "properties": levels(MAX_DEPTH)})
    assert problem is not None and problem["field"].startswith("properties.k.0.k")
    assert problem["message"] == f"is nested more than {MAX_DEPTH} levels deep"


def test_nul_in_a_value_a_list_item_or_a_key_is_named() -> None:
    assert shape_problem(event(test_event_code="T\x00")) == {
        "field": "test_event_code",
        "message": "contains a NUL character (U+0000)",
    }
    assert shape_problem(event(user={"email": ["a@example.com", "b\x00"]}))["field"] == "user.email.1"  # type: ignore[index]
    assert shape_problem(event(device={"k\x00ey": 1}))["field"] == "device.k\\u0000ey"  # type: ignore[index]


def test_a_named_field_is_bounded_in_length() -> None:
    problem = shape_problem({"event": "X", ("k" * 10_000): "\x00"})
    assert problem is not None and len(problem["field"]) == 256

"""The one walk over a posted event: nesting depth and NUL characters, with the field named."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from forwarder.shape import MAX_DEPTH, shape_problem
from tests.configs import service_config
from tests.conftest import event
from tests.postgres import postgres_database
from tests.processes import free_port, running, wait_for_delivery


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


# Against a real `forwarder serve` on SQLite and on PostgreSQL, with the embedded emulator as TikTok: a deep or
# NUL-carrying event is rejected naming its field, and the rest of its batch is accepted and delivered.

KEY = {"Authorization": "Bearer bounds-key"}
ADMIN = {"Authorization": "Bearer bounds-admin"}


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with ExitStack() as stack:
        if request.param == "postgresql":
            store_url = stack.enter_context(postgres_database())
        else:
            store_url = f"sqlite:///{tmp_path / 'forwarder.db'}"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = service_config(
            tmp_path / "config.toml",
            port=port,
            store_url=store_url,
            embedded_emulator=True,
            top_level={"admin_token": "bounds-admin"},
            delivery={"poll_interval_s": 0.1},
            sources={"app": {"keys": ["bounds-key"]}},
            destinations={"app": {"event_source": "app", "event_source_id": "111", "access_token": "bounds-token"}},
        )
        stack.enter_context(running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log"))
        yield base


def test_deep_and_nul_events_are_rejected_alone_and_the_rest_is_delivered(service: str) -> None:
    """Before: a 300-level `properties` failed the whole batch with a 500; NUL in event, event_id or
    test_event_code answered 503 forever on PostgreSQL and was taken by SQLite."""
    batch = [
        event(event_id="good-1"),
        event(event_id="nul\x00id"),
        event(event_id="nul-event", event="PURCHASE\x00"),
        event(event_id="nul-code", test_event_code="TEST\x0012"),
        event(event_id="nul-key", properties={"note\x00": 1}),
        event(event_id="deep-properties", properties={"x": nested(300)}),
        event(event_id="deep-extra", campaign=nested(300)),
        event(event_id="deep-user", user={"email": "a@example.com", "profile": nested(300)}),
        event(event_id="good-2"),
    ]
    answer = httpx.post(f"{service}/v1/events", json={"events": batch}, headers=KEY, timeout=30)
    assert answer.status_code == 202, answer.text[:300]
    reply = answer.json()
    assert reply["accepted"] == 2
    fields = {r["index"]: r["errors"][0]["field"] for r in reply["rejected"]}
    deep = ".a" * (MAX_DEPTH - 2)
    assert fields == {
        1: "event_id",
        2: "event",
        3: "test_event_code",
        4: "properties.note\\u0000",
        5: "properties.x" + deep,
        6: "campaign" + deep + ".a",
        7: "user.profile" + deep,
    }
    assert "NUL" in reply["rejected"][0]["errors"][0]["message"]
    assert f"{MAX_DEPTH} levels" in reply["rejected"][4]["errors"][0]["message"]
    wait_for_delivery(f"{service}/_emulator", {"good-1", "good-2"}, timeout_s=30, headers=ADMIN)
    assert httpx.get(f"{service}/readyz", timeout=10).status_code == 200


def test_a_lone_nul_event_is_a_422_on_both_stores(service: str) -> None:
    answer = httpx.post(f"{service}/v1/events", json=event(event="PURCHASE\x00"), headers=KEY, timeout=30)
    assert answer.status_code == 422
    assert answer.json()["rejected"] == [
        {"index": 0, "errors": [{"field": "event", "message": "contains a NUL character (U+0000)"}]}
    ]
    after = httpx.post(f"{service}/v1/events", json=event(event_id="after"), headers=KEY, timeout=30)
    assert after.status_code == 202
    wait_for_delivery(f"{service}/_emulator", {"after"}, timeout_s=30, headers=ADMIN)

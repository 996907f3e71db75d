"""The inbound event model: time formats, id rule, field errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from forwarder.events import InboundEvent, check_event_time, derive_event_id, field_errors, parse_timestamp
from tests.conftest import AUTH, event


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-21T10:00:00Z", 1795255200),
        ("2026-11-21T11:00:00+01:00", 1795255200),
        ("2026-11-21T10:00:00", 1795255200),  # naive ISO is read as UTC
        ("2026-11-21T10:00:00.750Z", 1795255200),
        (1795255200, 1795255200),
        (1795255200.9, 1795255200),
        (1795255200123, 1795255200),  # milliseconds
        (1795255200123456, 1795255200),  # microseconds
        ("1795255200123", 1795255200),
    ],
)
def test_timestamp_formats_become_unix_seconds(value: Any, expected: int) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["yesterday", True, None, -5, 0, [], "2026-13-01T00:00:00Z"])
def test_timestamp_rejects_what_is_not_a_time(value: Any) -> None:
    with pytest.raises(ValueError, match=r"Unix time|ISO 8601|positive"):
        parse_timestamp(value)


def test_derived_event_id_is_stable_for_a_resent_event() -> None:
    first = InboundEvent.model_validate(event(event_id=None))
    again = InboundEvent.model_validate(event(event_id=None))
    assert derive_event_id(first) == derive_event_id(again)
    assert derive_event_id(first).startswith("fwd_")


def test_derived_event_id_ignores_timestamp_format_but_not_content() -> None:
    base = event(event_id=None, timestamp=1795255200)
    as_ms = event(event_id=None, timestamp=1795255200000)
    other = event(event_id=None, timestamp=1795255201)
    ids = [derive_event_id(InboundEvent.model_validate(e)) for e in (base, as_ms, other)]
    assert ids[0] == ids[1] != ids[2]


def test_numeric_ids_become_strings() -> None:
    parsed = InboundEvent.model_validate(event(event_id=12345, app={"id": 1234567890}))
    assert parsed.event_id == "12345"
    assert parsed.app is not None and parsed.app.id == "1234567890"


def test_field_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        InboundEvent.model_validate(event(event=5, limited_data_use="yes", user={"email": {"a": 1}}))
    fields = {error["field"] for error in field_errors(raised.value)}
    assert {"event", "limited_data_use"} <= fields
    assert any(field.startswith("user.email") for field in fields)


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(ValidationError) as raised:
        InboundEvent.model_validate({"properties": {}})
    assert {error["field"] for error in field_errors(raised.value)} == {"event", "timestamp"}


def test_unknown_fields_are_kept_for_mapping_rules() -> None:
    parsed = InboundEvent.model_validate(event(campaign={"name": "spring"}))
    assert parsed.model_dump()["campaign"] == {"name": "spring"}


def test_event_time_limits() -> None:
    now = 1_800_000_000.0
    assert check_event_time(int(now), now, max_age_s=3600, max_future_s=300) is None
    assert "future" in (check_event_time(int(now + 301), now, max_age_s=3600, max_future_s=300) or "")
    assert "older" in (check_event_time(int(now - 3601), now, max_age_s=3600, max_future_s=300) or "")


@pytest.mark.parametrize(
    ("lead", "field"),
    [({"lead_id": {"id": 1}}, "lead.lead_id"), ({"lead_id": ""}, "lead.lead_id"), ("L-1", "lead")],
)
def test_a_malformed_lead_is_a_422_naming_the_field(app: TestClient, lead: Any, field: str) -> None:
    answer = app.post("/v1/events", json=event(event="GENERATE_LEAD", lead=lead), headers=AUTH)
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["rejected"][0]["errors"]] == [field]

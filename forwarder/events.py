"""The inbound event our SDK endpoint accepts, its time rule and its event_id rule."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from .errors import BadRequest

# Unix times at or above these magnitudes are taken as milliseconds / microseconds, not seconds.
_MS_THRESHOLD = 100_000_000_000  # 1e11 s is the year 5138
_US_THRESHOLD = 100_000_000_000_000
# Values per user identifier field (email, phone, external_id): a person has a few; 55,000 phones in one event
# held the event loop for 3 s while they were normalised and hashed.
MAX_IDENTIFIERS = 10


def _text(value: Any) -> Any:
    """Accept numbers where TikTok wants strings (ids): `123` becomes `"123"`; bools stay invalid."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _text_list(value: Any) -> Any:
    """A user identifier may be one string or a list of them, at most MAX_IDENTIFIERS."""
    if value is None:
        return []
    if not isinstance(value, list):
        return [_text(value)]
    if len(value) > MAX_IDENTIFIERS:
        raise ValueError(f"{len(value)} values; at most {MAX_IDENTIFIERS}")
    return [_text(v) for v in value]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def parse_timestamp(value: Any) -> int:
    """Unix seconds from ISO 8601 (naive means UTC), Unix seconds, milliseconds or microseconds."""
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 string or a Unix time in s, ms or us")
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return parse_timestamp(float(text))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("must be an ISO 8601 string or a Unix time in s, ms or us") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp())
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("must be an ISO 8601 string or a Unix time in s, ms or us")
        if value <= 0:
            raise ValueError("must be a positive Unix time")
        if value >= _US_THRESHOLD:
            return int(value // 1_000_000)
        if value >= _MS_THRESHOLD:
            return int(value // 1000)
        return int(value)
    raise ValueError("must be an ISO 8601 string or a Unix time in s, ms or us")


# Length bounds sit on the string itself, inside the BeforeValidator: pydantic-core checks them natively ("String
# should have at most 256 characters"); bounds put around `Text` ran as a Python validator per field, with a message
# about "items".
Text = Annotated[StrictStr, BeforeValidator(_text)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=256), BeforeValidator(_text)]
Name = Annotated[StrictStr, Field(max_length=256), BeforeValidator(_text)]
TextList = Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=512)]], BeforeValidator(_text_list)]
EventTime = Annotated[int, BeforeValidator(parse_timestamp)]


class _Part(BaseModel):
    # Unknown fields are kept so mapping rules can reach them; only known ones go to TikTok.
    model_config = ConfigDict(extra="allow")


class App(_Part):
    id: Id | None = None
    name: Name | None = None
    version: Annotated[StrictStr, Field(max_length=64), BeforeValidator(_text)] | None = None
    platform: Annotated[Literal["ios", "android"], BeforeValidator(_lower)] | None = None


class User(_Part):
    email: TextList = []
    phone: TextList = []
    external_id: TextList = []
    ttclid: Text | None = None
    ttp: Text | None = None
    # Hashed before anything is stored (first_name, last_name, zip_code) or never stored (city, state, country):
    # tiktok/user.py `hashed_user` and mapping/stored_event.py say why.
    first_name: Name | None = None
    last_name: Name | None = None
    zip_code: Name | None = None
    city: Name | None = None
    state: Name | None = None
    country: Name | None = None


AttStatus = Literal["AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"]


class Device(_Part):
    idfa: Text | None = None
    idfv: Text | None = None
    gaid: Text | None = None
    att_status: Annotated[AttStatus, BeforeValidator(_upper)] | None = None
    ip: Annotated[StrictStr, Field(max_length=64), BeforeValidator(_text)] | None = None
    user_agent: Annotated[StrictStr, Field(max_length=1024), BeforeValidator(_text)] | None = None
    locale: Annotated[StrictStr, Field(max_length=35), BeforeValidator(_text)] | None = None


class Page(_Part):
    url: Annotated[StrictStr, Field(max_length=4096), BeforeValidator(_text)] | None = None
    referrer: Annotated[StrictStr, Field(max_length=4096), BeforeValidator(_text)] | None = None


class Lead(_Part):
    """A TikTok lead (Instant Form / Leads Center) for crm destinations, named as TikTok names it."""

    lead_id: Id | None = None
    lead_event_source: Id | None = None  # the CRM, e.g. HubSpot


# The parts of an event whose own fields we know (their extra fields are kept for mapping rules).
PARTS: dict[str, type[_Part]] = {"user": User, "device": Device, "app": App, "page": Page}


class InboundEvent(BaseModel):
    """One in-app event as an SDK or attribution platform sends it to `POST /v1/events`."""

    model_config = ConfigDict(extra="allow")

    event_id: Id | None = None
    event: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    timestamp: EventTime
    app: App | None = None
    # default_factory, not an instance: pydantic deep-copies instance defaults on every validation.
    user: User = Field(default_factory=User)
    device: Device = Field(default_factory=Device)
    page: Page | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    ad: dict[str, Any] = Field(default_factory=dict)
    lead: Lead | None = None
    limited_data_use: StrictBool = False
    test_event_code: Annotated[StrictStr, Field(min_length=1, max_length=64), BeforeValidator(_text)] | None = None


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as `{"field": "user.email", "message": ...}`, the shape every 4xx answer uses."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "(event)",
            "message": item["msg"].removeprefix("Value error, "),
        }
        for item in error.errors(include_url=False)
    ]


def derive_event_id(event: InboundEvent) -> str:
    """A stable id from the event's content, so a client that resends an event gets the same id."""
    # A field added later is left out while unset, so the ids of events without it stay what they were.
    content = event.model_dump(mode="json", exclude={"event_id"} if event.lead is not None else {"event_id", "lead"})
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "fwd_" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def check_event_time(event_time: int, now: float, *, max_age_s: float, max_future_s: float) -> str | None:
    """Why TikTok would not take this event time, or None."""
    if event_time > now + max_future_s:
        return f"is {int(event_time - now)} s in the future (more than {int(max_future_s)} s of clock skew)"
    if event_time < now - max_age_s:
        return f"is older than the maximum age of {max_age_s / 3600:g} h"
    return None


def utc_iso(seconds: float) -> str:
    """`2026-11-21T10:00:00Z`: whole seconds, UTC."""
    return datetime.fromtimestamp(int(seconds), UTC).isoformat().replace("+00:00", "Z")


def parse_json_object(body: bytes, expected: str) -> dict[str, Any]:
    """A JSON object from the body, or a 400 that says what is wrong with it."""
    try:
        # orjson is strict: no NaN/Infinity, no unpaired surrogates, valid UTF-8, nesting at most 1,024 deep.
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(400, "invalid_json", f"invalid JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadRequest(400, "invalid_body", expected)
    return document


def parse_events(body: bytes, max_events: int) -> tuple[list[Any], bool]:
    """The raw events of a body holding one event object or `{"events": [...]}`, and whether it was a batch."""
    if not body.strip():
        raise BadRequest(400, "empty_body", 'the body is empty; send an event object or {"events": [...]}')
    document = parse_json_object(body, 'the body must be an event object or {"events": [...]}')
    if "events" not in document:
        return [document], False
    events = document["events"]
    if not isinstance(events, list):
        raise BadRequest(400, "invalid_body", "`events` must be a list of event objects", field="events")
    if not events:
        raise BadRequest(400, "invalid_body", "`events` is empty", field="events")
    if len(events) > max_events:
        raise BadRequest(
            413, "too_many_events", f"{len(events)} events in one request; at most {max_events}", field="events"
        )
    return events, True

"""The copy of an inbound event that mapping reads and the store keeps (stored_event.py): digests and click ids,
never the raw personal data, so no mapping rule can copy it into a TikTok property either."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import orjson

from forwarder.events import InboundEvent
from forwarder.mapping.planning import Routing
from forwarder.mapping.stored_event import mapping_document
from forwarder.mapping.tables import load_mappings
from forwarder.tiktok.builder import TikTokPayloads
from forwarder.tiktok.user import hashed_user
from tests.conftest import make_settings


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


POSTED = {
    "event": "START_TRIAL",
    "timestamp": 1_800_000_000,
    "app": {"id": "com.example.app"},
    "user": {
        "email": "Ann@Example.com",
        "first_name": "Ann",
        "city": "Springfield",
        "nickname": "annie",
        "ttclid": "click-1",
        "ttp": "cookie-1",
    },
    "device": {"ip": "203.0.113.9", "user_agent": "Example/1.0", "idfv": "V-1", "serial": "SN-1"},
    "properties": {"plan": "annual"},
    "usr": {"email": "ann@example.com"},
}


def test_the_copy_keeps_digests_and_click_ids_and_drops_the_rest() -> None:
    user = hashed_user(InboundEvent.model_validate(POSTED), "US")
    kept = mapping_document(POSTED, user, "evt-9")
    assert kept == {
        "event": "START_TRIAL",
        "timestamp": 1_800_000_000,
        "app": {"id": "com.example.app"},
        "user": {"email": [sha("ann@example.com")], "first_name": sha("ann"), "ttclid": "click-1", "ttp": "cookie-1"},
        "device": {"user_agent": "Example/1.0", "idfv": "V-1"},
        "properties": {"plan": "annual"},
        "event_id": "evt-9",
    }
    InboundEvent.model_validate(kept)  # `forwarder mappings diff` replays it as an event


def test_a_mapping_rule_reading_user_fields_gets_the_digest(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "default.toml").write_text(
        '[events.START_TRIAL]\nevent = "StartTrial"\n'
        'properties = { note = { path = "user.email" }, town = { path = "user.city" } }\n'
    )
    settings = make_settings(tmp_path, mappings_dir=mappings)
    raw = {**POSTED, "timestamp": int(time.time())}
    plan = Routing(settings, load_mappings(mappings), TikTokPayloads()).plan(
        InboundEvent.model_validate(raw), "ios_app", time.time(), raw
    )
    (item,) = plan.items
    assert orjson.loads(item.payload)["properties"] == {"note": [sha("ann@example.com")]}
    assert plan.stored_document is not None and b"Springfield" not in plan.stored_document

"""Events API bodies (`payload.py`): the whole `data[]` item of fully populated events for each event source, field
by field, and what an item cannot be built without."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from forwarder.app import create_app
from forwarder.errors import PayloadError
from forwarder.events import InboundEvent
from forwarder.tiktok.emulator import EmulatorState, create_emulator
from forwarder.tiktok.payload import build_event
from forwarder.tiktok.user import hashed_user
from tests.conftest import AUTH, event, stats_of, wait_for
from tests.unit.conftest import CRM_SET, LEAD_ID, OFFLINE_SET
from tests.unit.conftest import bodies_by_source as _bodies_by_source
from tests.unit.conftest import offline_and_crm_settings as _settings
from tests.unit.tiktok.conftest import bodies, full_event, sha
from tests.unit.tiktok.conftest import sha as _sha


def test_app_event_needs_a_store_app_id() -> None:
    inbound = InboundEvent.model_validate(event(app=None))
    with pytest.raises(PayloadError) as raised:
        build_event(event=inbound, event_name="StartTrial", event_id="e", properties={}, user={}, event_source="app")
    assert raised.value.field == "app.id"


def test_web_event_has_page_url_and_no_mobile_ids() -> None:
    inbound = InboundEvent.model_validate(event())
    user = hashed_user(inbound, "US")
    item = build_event(
        event=inbound,
        event_name="StartTrial",
        event_id="e",
        properties={},
        user=user,
        event_source="web",
        page_url="https://example.com/app",
    )
    assert item["page"] == {"url": "https://example.com/app"}
    assert not {"idfa", "idfv", "gaid", "att_status"} & set(item["user"])
    assert "app" not in item


HASHED_USER = {
    "email": [sha("alice@example.com")],
    "phone": [sha("+14155550123")],
    "external_id": [sha("user_123")],
    "first_name": sha("maryann"),
    "last_name": sha("o'neil"),
    "zip_code": sha("94105"),
}
PROPERTIES = {
    "value": 19.98,
    "currency": "USD",
    "contents": [
        {
            "content_id": "1077218",
            "content_name": "Shirt",
            "content_category": "apparel",
            "brand": "TrainCo",
            "price": 9.99,
            "quantity": 2,
            "content_type": "product_group",
        }
    ],
    "content_ids": ["1077218"],
    "content_type": "product",  # the destination's default: the event named products but no content_type
    "num_items": 2,
    "query": "red shirt",
    "search_string": "red shirt",
    "description": "checkout",
    "order_id": "10045",
    "shop_id": "shop-1",
    "delivery_category": "home_delivery",
    "predicted_ltv": 120,
}


def test_fully_populated_app_event_body(tmp_path: Path) -> None:
    now = int(time.time())
    assert bodies(tmp_path, full_event(now))["app_main"] == {
        "event": "Purchase",
        "event_time": now,
        "event_id": "evt-full",
        "user": {
            **HASHED_USER,
            "ip": "203.0.113.7",
            "user_agent": "Example/5.4.1 (iPhone; iOS 18.1)",
            "locale": "en-US",
            "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
            "idfv": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB",
            "att_status": "AUTHORIZED",
        },
        "properties": PROPERTIES,
        "limited_data_use": True,
        "app": {"app_id": "com.example.app", "app_name": "Example", "app_version": "5.4.1"},
        "ad": {
            "callback": "cb-1",
            "campaign_id": "17",
            "ad_id": "18",
            "creative_id": "19",
            "attribution_type": "click",
            "attribution_provider": "AppsFlyer",
            "is_retargeting": False,
            "attributed": True,
        },
    }


def test_fully_populated_web_event_body(tmp_path: Path) -> None:
    now = int(time.time())
    assert bodies(tmp_path, full_event(now), page_url="https://shop.example.com/")["web_main"] == {
        "event": "Purchase",
        "event_time": now,
        "event_id": "evt-full",
        "user": {
            **HASHED_USER,
            "ttclid": "E.C.P.sender-click",  # the sender's own wins over the page URL's
            "ttp": "ttp-cookie-1",
            "ip": "203.0.113.7",
            "user_agent": "Example/5.4.1 (iPhone; iOS 18.1)",
            "locale": "en-US",
        },
        "properties": PROPERTIES,
        "limited_data_use": True,
        "page": {
            "url": "https://shop.example.com/thanks?ttclid=url-click",
            "referrer": "https://shop.example.com/cart",
        },
    }


def _populated(**overrides: Any) -> dict[str, Any]:
    """Every inbound field set: user, device, page, ad, lead, test_event_code, properties of every kind."""
    body = event(
        event_id="full-1",
        event="PURCHASE",
        timestamp=int(time.time()) - 60,
        user={
            "email": " A@Example.com ",
            "phone": "+1 (415) 555-0123",
            "external_id": "u-42",
            "ttclid": "E.C.P.click",
            "ttp": "ttp-cookie",
            "first_name": "Ada",  # TikTok's offline and CRM sources take none of these three
            "last_name": "Lovelace",
            "zip_code": "94107",
        },
        page={"url": "https://shop.example.com/thanks", "referrer": "https://shop.example.com/cart"},
        ad={"callback": "cb", "campaign_id": "c1", "ad_id": "a1", "creative_id": "cr1", "attributed": True},
        lead={"lead_id": LEAD_ID, "lead_event_source": "Salesforce"},
        test_event_code="TEST42",
        properties={
            "value": "19.98",
            "currency": "eur",
            "content_type": "product",
            "contents": [{"content_id": 7, "content_name": "Mug", "price": "9.99", "quantity": 2, "brand": "B"}],
            "num_items": 2,
            "order_id": "o-1",
            "shop_id": "store-12",
            "description": "two mugs",
            "free_text": "never forwarded",
        },
    )
    body.update(overrides)
    return body


TYPED_PROPERTIES = {
    "value": 19.98,
    "currency": "EUR",
    "content_type": "product",
    "contents": [{"content_id": "7", "content_name": "Mug", "price": 9.99, "quantity": 2, "brand": "B"}],
    "num_items": 2,
    "order_id": "o-1",
    "shop_id": "store-12",
    "description": "two mugs",
}


def test_offline_body_field_by_field(app: TestClient, tiktok: respx.Router) -> None:
    """Offline: standard name, email and phone only, no page, app, ad or lead; test code at the top level."""
    posted = _populated()
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    body = _bodies_by_source(tiktok, 2)["offline"]
    assert body == {
        "event_source": "offline",
        "event_source_id": OFFLINE_SET,
        "partner_name": "ForwarderTests",
        "test_event_code": "TEST42",
        "data": [
            {
                "event": "Purchase",
                "event_time": posted["timestamp"],
                "event_id": "full-1",
                "user": {"email": [_sha("a@example.com")], "phone": [_sha("+14155550123")]},
                "properties": TYPED_PROPERTIES,
                "limited_data_use": False,
            }
        ],
    }


def test_crm_body_field_by_field(app: TestClient, tiktok: respx.Router) -> None:
    """CRM: the lead object, email, phone and external_id; no browser or mobile ids, no page, app or ad."""
    posted = _populated(event="GENERATE_LEAD")
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    body = _bodies_by_source(tiktok, 2)["crm"]
    assert body == {
        "event_source": "crm",
        "event_source_id": CRM_SET,
        "partner_name": "ForwarderTests",
        "test_event_code": "TEST42",
        "data": [
            {
                "event": "Lead",
                "event_time": posted["timestamp"],
                "event_id": "full-1",
                "user": {
                    "email": [_sha("a@example.com")],
                    "phone": [_sha("+14155550123")],
                    "external_id": [_sha("u-42")],
                },
                "properties": TYPED_PROPERTIES,
                "limited_data_use": False,
                "lead": {"lead_id": LEAD_ID, "lead_event_source": "Salesforce"},
            }
        ],
    }


def test_a_crm_item_is_never_built_without_a_lead() -> None:
    inbound = InboundEvent.model_validate(event())
    with pytest.raises(PayloadError) as raised:
        build_event(event=inbound, event_name="Lead", event_id="e", properties={}, user={}, event_source="crm")
    assert raised.value.field == "lead.lead_id"


def test_the_real_app_delivers_offline_and_crm_events_to_the_emulator(tmp_path: Path) -> None:
    """End to end: the app's delivery loop, TikTok's envelope and the emulator's validation of both sources."""
    state = EmulatorState()
    transport = httpx.ASGITransport(app=create_emulator(state))
    now = int(time.time())
    posted = [
        event(event_id="in-store-1", event="PURCHASE", timestamp=now - 3600),
        event(event_id="call-1", event="CONTACT", timestamp=now - 1800),
        event(event_id="lead-1", event="GENERATE_LEAD", lead={"lead_id": LEAD_ID}, timestamp=now - 600),
        event(event_id="lead-2", event="ClosedWon", lead={"lead_id": LEAD_ID}, timestamp=now - 60),
    ]
    with TestClient(create_app(_settings(tmp_path), transport=transport)) as client:
        answer = client.post("/v1/events", json={"events": posted}, headers=AUTH)
        assert answer.status_code == 202 and answer.json()["accepted"] == 4
        wait_for(lambda: len(state.accepted) == 5)
        wait_for(lambda: stats_of(client, "shop")["delivered"] == 3 and stats_of(client, "leads")["delivered"] == 2)
        assert stats_of(client, "shop")["failed"] == stats_of(client, "leads")["failed"] == 0
    received = sorted((e["event_source"], e["event_source_id"], e["event_id"], e["event"]) for e in state.accepted)
    assert received == [
        ("crm", CRM_SET, "lead-1", "Lead"),
        ("crm", CRM_SET, "lead-2", "ClosedWon"),
        ("offline", OFFLINE_SET, "call-1", "Contact"),
        ("offline", OFFLINE_SET, "in-store-1", "Purchase"),
        ("offline", OFFLINE_SET, "lead-1", "Lead"),
    ]
    assert state.answers == {"0": state.requests}  # TikTok's validation, as the emulator has it, took every body
    assert {e["lead"]["lead_event_source"] for e in state.accepted if e["event_source"] == "crm"} == {"HubSpot"}

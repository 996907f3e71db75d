"""Events API bodies (`payload.py`): the whole `data[]` item of fully populated events for each event source, field
by field, and what an item cannot be built without."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from forwarder.errors import PayloadError
from forwarder.events import InboundEvent
from forwarder.tiktok.payload import build_event
from forwarder.tiktok.user import hashed_user
from tests.conftest import event
from tests.unit.tiktok.conftest import bodies, full_event, sha


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

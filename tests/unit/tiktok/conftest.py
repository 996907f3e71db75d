"""What the tests of TikTok's body parts share: a fully populated event and the bodies planning builds from it."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import orjson

from forwarder.events import InboundEvent
from forwarder.mapping.planning import Routing
from forwarder.mapping.tables import load_mappings
from forwarder.tiktok.builder import TikTokPayloads
from tests.conftest import REPO, make_settings


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


WEB = {"event_source": "web", "event_source_id": "C4ABCDEFGHIJKLMNOPQR", "access_token": "t", "mapping": "web"}
NO_APP = {"event_source": "app", "event_source_id": "7301234567890123456", "access_token": "t", "app_ids": []}


def full_event(now: int) -> dict[str, Any]:
    """Every field our inbound format accepts, PII included, with values that need normalising."""
    return {
        "event_id": "evt-full",
        "event": "PURCHASE",
        "timestamp": now,
        "app": {"id": "com.example.app", "name": "Example", "version": "5.4.1", "platform": "ios"},
        "user": {
            "email": " Alice@Example.com ",
            "phone": "+1 (415) 555-0123",
            "external_id": "user_123",
            "first_name": " Mary Ann ",
            "last_name": "O'Neil",
            "zip_code": "94105 ",
            "city": "San Francisco",
            "state": "CA",
            "country": "US",
            "ttclid": "E.C.P.sender-click",
            "ttp": "ttp-cookie-1",
        },
        "device": {
            "idfa": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
            "idfv": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB",
            "att_status": "authorized",
            "ip": "203.0.113.7",
            "user_agent": "Example/5.4.1 (iPhone; iOS 18.1)",
            "locale": "en-US",
        },
        "page": {
            "url": "https://shop.example.com/thanks?ttclid=url-click",
            "referrer": "https://shop.example.com/cart",
        },
        "properties": {
            "value": "19.98",
            "currency": "usd",
            "contents": [
                {
                    "content_id": 1077218,
                    "content_name": "Shirt",
                    "content_category": "apparel",
                    "brand": "TrainCo",
                    "price": "9.99",
                    "quantity": 2,
                    "content_type": "product_group",
                }
            ],
            "content_ids": ["1077218"],
            "num_items": 2,
            "query": "red shirt",
            "description": "checkout",
            "order_id": 10045,
            "shop_id": "shop-1",
            "delivery_category": "home_delivery",
            "predicted_ltv": 120,
            "secret_note": "not for TikTok",
        },
        "ad": {
            "callback": "cb-1",
            "campaign_id": 17,
            "ad_id": "18",
            "creative_id": "19",
            "is_retargeting": False,
            "attributed": True,
            "attribution_type": "click",
            "attribution_provider": "AppsFlyer",
        },
        "limited_data_use": True,
    }


def bodies(tmp_path: Path, raw: dict[str, Any], **destination: Any) -> dict[str, dict[str, Any]]:
    """The `data[]` item each destination would be sent for `raw`, keyed by destination."""
    destinations: dict[str, Any] = {}
    if destination:  # a web destination alone: the default app one takes no app id
        destinations = {"app_main": NO_APP, "web_main": {**WEB, "page_url": "https://shop.example.com/"}}
        destinations["web_main"].update(destination)
    settings = make_settings(tmp_path, destinations=destinations)
    plan = Routing(settings, load_mappings(REPO / "mappings"), TikTokPayloads()).plan(
        InboundEvent.model_validate(raw), "ios_app", time.time(), raw
    )
    assert not plan.errors, plan.errors
    return {item.destination: orjson.loads(item.payload) for item in plan.items}

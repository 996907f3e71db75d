"""Fields peers send (issue 13, items 1 and 4): the whole TikTok body of fully populated app and web events, field
by field, and the rules behind each field: names and zip hashed, city/state/country never sent, content_type by
default, ttclid from the page URL, `query` and `search_string`, TikTok's `Pageview`."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from forwarder.events import InboundEvent
from forwarder.mapping.planning import Routing
from forwarder.mapping.tables import load_mappings
from forwarder.tiktok.builder import TikTokPayloads
from forwarder.tiktok.catalog import load_catalog
from forwarder.tiktok.event_names import check_event_name
from forwarder.tiktok.user import hash_name, ttclid_from_page
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


def test_city_state_and_country_are_never_sent(tmp_path: Path) -> None:
    sent = bodies(tmp_path, full_event(int(time.time())), page_url="https://shop.example.com/")["web_main"]
    assert not {"city", "state", "country"} & set(sent["user"])
    text = orjson.dumps(sent)
    assert b"San Francisco" not in text and b"sanfrancisco" not in text


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [(" Mary Ann ", "maryann"), ("JOHN", "john"), ("\tJean-Luc\n", "jean-luc"), ("SW1A 1AA", "sw1a1aa")],
)
def test_names_and_zip_codes_are_normalised_then_hashed(raw: str, normalised: str) -> None:
    assert hash_name(raw) == sha(normalised)


def test_prehashed_names_pass_through_lowercased() -> None:
    digest = sha("maryann").upper()
    assert hash_name(digest) == digest.lower()


def test_ttclid_comes_from_the_page_url_when_the_event_has_none(tmp_path: Path) -> None:
    raw = full_event(int(time.time()))
    del raw["user"]["ttclid"]
    sent = bodies(tmp_path, raw, page_url="https://shop.example.com/")["web_main"]
    assert sent["user"]["ttclid"] == "url-click"


@pytest.mark.parametrize(
    ("url", "referrer", "found"),
    [
        ("https://a.example/p?x=1&ttclid=E.C.P.abc%3D", None, "E.C.P.abc="),
        ("https://a.example/p", "https://a.example/landing?ttclid=from-ref", "from-ref"),
        ("https://a.example/p", "https://other.example/?ttclid=elsewhere", None),  # another site's click id
        ("https://a.example/p?ttclid=", None, None),
        (None, None, None),
        ("not a url", None, None),
    ],
)
def test_ttclid_from_page(url: str | None, referrer: str | None, found: str | None) -> None:
    assert ttclid_from_page(url, referrer) == found


def test_app_events_get_no_ttclid_from_a_page(tmp_path: Path) -> None:
    assert "ttclid" not in bodies(tmp_path, full_event(int(time.time())))["app_main"]["user"]


@pytest.mark.parametrize(
    ("default", "properties", "content_type"),
    [
        ("product", {"contents": [{"content_id": "a"}]}, "product"),
        ("product", {"content_ids": ["a"]}, "product"),
        ("product_group", {"contents": [{"content_id": "a"}]}, "product_group"),
        ("", {"contents": [{"content_id": "a"}]}, None),
        ("product", {"contents": [{"content_id": "a"}], "content_type": "product_group"}, "product_group"),
        ("product", {"value": 5, "currency": "USD"}, None),  # no products: no content_type (stape-io#17)
        ("product", {"contents": []}, None),
    ],
)
def test_default_content_type_per_destination(
    tmp_path: Path, default: str, properties: dict[str, Any], content_type: str | None
) -> None:
    raw = {"event": "PURCHASE", "timestamp": int(time.time()), "properties": properties}
    sent = bodies(tmp_path, raw, default_content_type=default)["web_main"]
    assert sent["properties"].get("content_type") == content_type


def test_search_string_alone_is_also_sent_as_query(tmp_path: Path) -> None:
    raw = {"event": "SEARCH", "timestamp": int(time.time()), "properties": {"search_string": "boots"}}
    assert bodies(tmp_path, raw, page_url="https://shop.example.com/")["web_main"]["properties"] == {
        "query": "boots",
        "search_string": "boots",
    }


def test_a_wrong_content_type_per_item_names_the_field(tmp_path: Path) -> None:
    raw = {"event": "PURCHASE", "timestamp": int(time.time())}
    raw["properties"] = {"contents": [{"content_id": "a", "content_type": "socks"}]}
    web = {"app_main": NO_APP, "web_main": {**WEB, "page_url": "https://shop.example.com/"}}
    settings = make_settings(tmp_path, destinations=web)
    plan = Routing(settings, load_mappings(REPO / "mappings"), TikTokPayloads()).plan(
        InboundEvent.model_validate(raw), "ios_app", time.time(), raw
    )
    assert plan.errors == [
        {"field": "properties.contents.0.content_type", "message": "must be product or product_group"}
    ]


def test_page_view_is_spelt_as_tiktok_spells_it(tmp_path: Path) -> None:
    catalog = load_catalog()
    assert catalog.is_standard("web", "Pageview") and not catalog.is_standard("web", "PageView")
    raw = {"event": "PAGE_VIEW", "timestamp": int(time.time())}
    assert bodies(tmp_path, raw, page_url="https://shop.example.com/")["web_main"]["event"] == "Pageview"
    problem = check_event_name("web.toml", "events.PAGE_VIEW", "PageView", "web", "web_main")
    assert problem is not None and problem.level == "error" and "'Pageview'" in problem.reason

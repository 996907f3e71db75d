"""Events API properties (`properties.py`): typed as TikTok wants them, its currency list and the policy for others,
the default content_type, `query` and `search_string`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from forwarder.errors import PayloadError
from forwarder.events import InboundEvent
from forwarder.mapping.planning import Routing
from forwarder.mapping.tables import load_mappings
from forwarder.tiktok.builder import TikTokPayloads
from forwarder.tiktok.properties import properties_for_tiktok
from tests.conftest import REPO, make_settings
from tests.unit.tiktok.conftest import NO_APP, WEB, bodies


def test_properties_are_typed_for_tiktok() -> None:
    props = properties_for_tiktok(
        {
            "value": "19.90",
            "currency": "eur",
            "contents": [{"content_id": 42, "quantity": "2", "price": "9.95"}],
            "content_ids": [42, "sku-2"],
            "num_items": 2.0,
            "query": "shoes",
            "secret_note": "a@example.com",
        }
    )
    assert props == {
        "value": 19.9,
        "currency": "EUR",
        "contents": [{"content_id": "42", "quantity": 2, "price": 9.95}],
        "content_ids": ["42", "sku-2"],
        "num_items": 2,
        "query": "shoes",
        "search_string": "shoes",
    }


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({"value": "ten"}, "properties.value"),
        ({"value": True}, "properties.value"),
        ({"currency": "dollars"}, "properties.currency"),
        ({"contents": [{"quantity": 1.5}]}, "properties.contents.0.quantity"),
        ({"contents": "sku-1"}, "properties.contents"),
    ],
)
def test_bad_property_types_name_the_field(properties: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as raised:
        properties_for_tiktok(properties)
    assert raised.value.field == field


def test_currency_outside_tiktoks_list_is_rejected_by_default() -> None:
    with pytest.raises(PayloadError) as raised:
        properties_for_tiktok({"value": 5, "currency": "BGN"})
    assert raised.value.field == "properties.currency"
    assert "BGN is not a currency TikTok supports" in raised.value.message


def test_currency_policy_can_drop_value_and_currency_instead() -> None:
    props = properties_for_tiktok({"value": 5, "currency": "bgn", "order_id": 7}, unsupported_currency="drop_value")
    assert props == {"order_id": "7"}


def test_every_listed_currency_is_accepted() -> None:
    from forwarder.tiktok.catalog import load_catalog

    currencies = load_catalog().currencies
    assert len(currencies) == 62 and {"USD", "EUR", "JPY", "VES"} <= currencies
    for code in currencies:
        assert properties_for_tiktok({"currency": code.lower()})["currency"] == code


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

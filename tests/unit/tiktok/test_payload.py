"""TikTok body building: the digest's hash vectors, normalisation, platform rules, property types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from forwarder.errors import PayloadError
from forwarder.events import InboundEvent
from forwarder.tiktok.client import track_body
from forwarder.tiktok.payload import build_event, envelope
from forwarder.tiktok.properties import properties_for_tiktok
from forwarder.tiktok.user import hash_email, hash_external_id, hash_phone, hashed_user
from tests.conftest import event

# (input, expected SHA-256) from ../shared/tiktok-events-api.md sections 2.3 and 3.1.
EMAIL_VECTORS = [
    (" ALICE_abc@gmail.com ", "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"),
    ("alice@example.com", "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"),
]
PHONE_VECTORS = [
    ("(+1)2133734253", "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"),
    ("+14155550123", "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4"),
    ("+1 (415) 555-0123", "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4"),
    ("415-555-0123", "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4"),  # default region US
]
EXTERNAL_ID_VECTORS = [
    ("user_123", "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"),
    ("  user_123 ", "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"),
]


@pytest.mark.parametrize(("raw", "digest"), EMAIL_VECTORS)
def test_email_vectors(raw: str, digest: str) -> None:
    assert hash_email(raw) == digest


@pytest.mark.parametrize(("raw", "digest"), PHONE_VECTORS)
def test_phone_vectors_hash_e164_with_plus(raw: str, digest: str) -> None:
    assert hash_phone(raw, "US") == digest


@pytest.mark.parametrize(("raw", "digest"), EXTERNAL_ID_VECTORS)
def test_external_id_vectors(raw: str, digest: str) -> None:
    assert hash_external_id(raw) == digest


def test_external_id_is_not_lowercased() -> None:
    assert hash_external_id("User_123") != hash_external_id("user_123")


def test_prehashed_values_pass_through_lowercased() -> None:
    digest = "FF8D9819FC0E12BF0D24892E45987E249A28DCE836A85CAD60E28EAAA8C6D976"
    assert hash_email(digest) == digest.lower()
    assert hash_phone(digest, "US") == digest.lower()
    assert hash_external_id(digest) == digest.lower()


@pytest.mark.parametrize(("function", "raw"), [(hash_email, "not-an-email"), (hash_email, "a@b")])
def test_invalid_email_is_a_named_error(function: Any, raw: str) -> None:
    with pytest.raises(PayloadError) as raised:
        function(raw)
    assert raised.value.field == "user.email"


@pytest.mark.parametrize("raw", ["12", "call me", "+999 123"])
def test_invalid_phone_is_a_named_error(raw: str) -> None:
    with pytest.raises(PayloadError) as raised:
        hash_phone(raw, "US")
    assert raised.value.field == "user.phone"


def _user(**device: Any) -> dict[str, Any]:
    app = device.pop("app", {"id": "com.example.app"})
    return hashed_user(InboundEvent.model_validate(event(device=device, app=app)), "US")


def test_ip_user_agent_idfv_locale_are_never_hashed() -> None:
    user = hashed_user(InboundEvent.model_validate(event()), "US")
    assert user["ip"] == "203.0.113.7"
    assert user["user_agent"] == "Example/5.4.1 (iPhone; iOS 18.1)"
    assert user["idfv"] == "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB"
    assert user["locale"] == "en-US"
    assert user["email"] == ["08168cd80dfd534ab0f10af10f1303fe00af2d43ab5c1432360d137f8197e17a"]


def test_android_drops_idfa_idfv_and_is_not_applicable() -> None:
    user = _user(
        idfa="6D92078A-8246-4BA4-AE5B-76104861E7DC", idfv="X", gaid="ABCD-EF", app={"id": "a", "platform": "android"}
    )
    assert "idfa" not in user and "idfv" not in user
    assert user["gaid"] == "abcd-ef"
    assert user["att_status"] == "NOT_APPLICABLE"


def test_ios_drops_gaid_uppercases_idfa_and_derives_att() -> None:
    user = _user(idfa="6d92078a-8246-4ba4-ae5b-76104861e7dc", gaid="abc", app={"id": "a", "platform": "ios"})
    assert "gaid" not in user
    assert user["idfa"] == "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    assert user["att_status"] == "AUTHORIZED"


def test_zero_idfa_is_dropped_and_att_not_determined() -> None:
    user = _user(idfa="00000000-0000-0000-0000-000000000000", app={"id": "a", "platform": "ios"})
    assert "idfa" not in user
    assert user["att_status"] == "NOT_DETERMINED"


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


def test_track_body_splices_stored_items_into_the_envelope() -> None:
    head = envelope(event_source="app", event_source_id="123", data=[], partner_name="P", test_event_code="T1")
    body = json.loads(track_body(head, [b'{"event":"A"}', b'{"event":"B"}']))
    assert body == {
        "event_source": "app",
        "event_source_id": "123",
        "partner_name": "P",
        "test_event_code": "T1",
        "data": [{"event": "A"}, {"event": "B"}],
    }


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

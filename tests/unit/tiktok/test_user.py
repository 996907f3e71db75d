"""TikTok's user block (`user.py`): the hash vectors and normalisation of each field, the device ids each platform
keeps, ttclid from the page, and what is never sent."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from forwarder.errors import PayloadError
from forwarder.events import InboundEvent
from forwarder.tiktok.user import hash_email, hash_external_id, hash_name, hash_phone, hashed_user, ttclid_from_page
from tests.conftest import event
from tests.unit.tiktok.conftest import bodies, full_event, sha

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

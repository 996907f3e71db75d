"""Events API 2.0 bodies: normalise and hash user data, type properties, build `data[]` items and envelopes.

Rules from ../shared/tiktok-events-api.md sections 2 and 5. Raw email, phone, external_id, first_name, last_name
and zip_code never leave this module: callers get SHA-256 lowercase hex (or the caller's own 64-hex pre-hashed
value, lowercased). city, state and country are never sent (see `hashed_user`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import phonenumbers

from ..errors import PayloadError
from ..events import InboundEvent
from .catalog import load_catalog

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_CURRENCY = re.compile(r"[A-Z]{3}")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_ZERO_IDFA = "00000000-0000-0000-0000-000000000000"

# Property keys TikTok documents; other inbound keys are not forwarded unless a mapping rule names them,
# so free-form SDK properties (which may hold PII) never reach TikTok by accident.
_STRING_PROPERTIES = {"search_string", "query", "description", "order_id", "shop_id", "delivery_category"}
_CONTENT_TYPES = ("product", "product_group")
_NUMBER_PROPERTIES = {"value", "predicted_ltv"}
_CONTENT_STRINGS = ("content_id", "content_name", "content_category", "brand")
_AD_STRINGS = ("callback", "campaign_id", "ad_id", "creative_id", "attribution_type", "attribution_provider")
_AD_BOOLS = ("is_retargeting", "attributed")
_MOBILE_IDS = frozenset({"idfa", "idfv", "gaid", "att_status"})
_BROWSER = frozenset({"ttclid", "ttp", "ip", "user_agent", "locale"})
# User fields TikTok's /event/track/ reference does not take for a source (digest section 2.3; bububa track.go):
# web events carry no mobile ids; app events no web cookies; offline takes email and phone ("We only support email
# or phone based PII", TikTok's offline guide); crm takes email, phone and external_id.
_NAME_AND_PLACE = frozenset({"first_name", "last_name", "zip_code"})  # web and app, as TikTok's Segment destination
_NOT_FOR_SOURCE = {
    "web": _MOBILE_IDS,
    "app": frozenset({"ttclid", "ttp"}),
    "offline": _MOBILE_IDS | _BROWSER | _NAME_AND_PLACE | {"external_id"},
    "crm": _MOBILE_IDS | _BROWSER | _NAME_AND_PLACE,
}


class _Invalid(ValueError):
    """A value TikTok would not accept; the caller, which knows where it was, names the field.

    The field's name is only formatted when a value is wrong: formatting it for every property of every event
    cost more than checking the value.
    """

    def __init__(self, message: str, subfield: str = "") -> None:
        self.message, self.subfield = message, subfield
        super().__init__(message)

    def at(self, field: str) -> PayloadError:
        return PayloadError(f"{field}.{self.subfield}" if self.subfield else field, self.message)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256(text: str) -> bool:
    return len(text) == 64 and _HEX_DIGITS.issuperset(text)


def hash_email(raw: str) -> str:
    if is_sha256(raw):
        return raw.lower()
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email:
        raise PayloadError("user.email", "is not an email address")
    return sha256_hex(email)


def normalise_phone(raw: str, default_region: str) -> str:
    """E.164 with the leading `+`; numbers without a country code are read in `default_region`.

    A value already in strict E.164 is taken as it is: it is exactly what TikTok hashes, and parsing it again
    costs more than the rest of the event.
    """
    if _E164.fullmatch(raw):
        return raw
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise PayloadError("user.phone", "is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise PayloadError("user.phone", f"is not a possible phone number (default region {default_region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def hash_phone(raw: str, default_region: str) -> str:
    return raw.lower() if is_sha256(raw) else sha256_hex(normalise_phone(raw, default_region))


def hash_external_id(raw: str) -> str:
    # TikTok's own GTM template trims and does not lowercase external ids.
    return raw.lower() if is_sha256(raw) else sha256_hex(raw.strip())


_WHITESPACE = re.compile(r"\s+")


def hash_name(raw: str) -> str:
    """first_name, last_name, zip_code: whitespace removed, lower-cased, SHA-256, as the TikTok-maintained Segment
    destinations normalise them (`formatString` in tiktok-conversions/formatter.ts)."""
    return raw.lower() if is_sha256(raw) else sha256_hex(_WHITESPACE.sub("", raw).lower())


def ttclid_from_page(url: str | None, referrer: str | None) -> str | None:
    """The `ttclid` query parameter of the page URL, else of a same-site referrer, as TikTok's own server-side tag
    reads it (tiktok/gtm-template-eapi `getTtclidFromUrl`)."""
    found, host = _ttclid_and_host(url)
    if found or not referrer or "ttclid" not in referrer:
        return found
    linked, linked_host = _ttclid_and_host(referrer)
    return linked if linked_host == host else None


def _ttclid_and_host(url: str | None) -> tuple[str | None, str | None]:
    if not url:
        return None, None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None, None
    values = parse_qs(parts.query).get("ttclid") if "ttclid" in parts.query else None
    return (values[0].strip() or None) if values else None, host


def _platform(event: InboundEvent) -> str | None:
    if event.app is not None and event.app.platform:
        return event.app.platform
    if event.device.gaid:
        return "android"
    if event.device.idfa or event.device.idfv:
        return "ios"
    return None


def hashed_user(event: InboundEvent, default_region: str) -> dict[str, Any]:
    """Every user and device field TikTok may take, hashed where TikTok requires; computed once per event.

    Absent and empty fields are left out. city, state and country are not sent: TikTok's API reference lists no
    such user fields, and the one peer that sends them (Segment) sends them unhashed, which would put them in our
    store in the clear.
    """
    user, device = event.user, event.device
    block: dict[str, Any] = {}
    if user.email:
        block["email"] = _dedupe([hash_email(v) for v in user.email])
    if user.phone:
        block["phone"] = _dedupe([hash_phone(v, default_region) for v in user.phone])
    if user.external_id:
        block["external_id"] = _dedupe([hash_external_id(v) for v in user.external_id])
    for key, text in (("first_name", user.first_name), ("last_name", user.last_name), ("zip_code", user.zip_code)):
        if text:
            block[key] = hash_name(text)
    page = event.page
    ttclid = user.ttclid or (ttclid_from_page(page.url, page.referrer) if page is not None else None)
    for key, value in (
        ("ttclid", ttclid),
        ("ttp", user.ttp),
        ("ip", device.ip),
        ("user_agent", device.user_agent),
        ("locale", device.locale),
    ):
        if value:
            block[key] = value
    platform = _platform(event)
    if platform != "android":
        idfa = device.idfa
        if idfa and idfa != _ZERO_IDFA:
            block["idfa"] = idfa.lower() if is_sha256(idfa) else idfa.upper()
        if device.idfv:
            block["idfv"] = device.idfv
    if platform != "ios" and device.gaid:
        block["gaid"] = device.gaid.lower()
    att_status = device.att_status or _derived_att_status(platform, block.get("idfa"))
    if att_status:
        block["att_status"] = att_status
    return block


def _derived_att_status(platform: str | None, idfa: str | None) -> str | None:
    if platform == "android":
        return "NOT_APPLICABLE"
    if platform == "ios":
        # A non-zero IDFA is only readable once the user allowed tracking.
        return "AUTHORIZED" if idfa else "NOT_DETERMINED"
    return None


def _dedupe(values: list[str]) -> list[str]:
    return values if len(values) == 1 else list(dict.fromkeys(values))


def user_for_source(user: Mapping[str, Any], event_source: str) -> dict[str, Any]:
    """The user fields TikTok takes for `event_source` (`_NOT_FOR_SOURCE` lists those it does not)."""
    excluded = _NOT_FOR_SOURCE[event_source]
    return {key: value for key, value in user.items() if key not in excluded}


_MAX_MAGNITUDE = 1e15  # no price, value or quantity is this large; past it the number is a bug upstream


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise _Invalid("must be a number")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Invalid("must be a number") from None
        value = int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if not isinstance(value, int | float):
        raise _Invalid("must be a number")
    if not math.isfinite(value) or abs(value) >= _MAX_MAGNITUDE:
        raise _Invalid(f"is out of range (at most {_MAX_MAGNITUDE:.0e} in magnitude)")
    return value


def _integer(value: Any) -> int:
    number = _number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise _Invalid("must be a whole number")
        return int(number)
    return number


def _string(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        if text:
            return text
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid("must be a non-empty string")


def _content(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise _Invalid("must be an object")
    content: dict[str, Any] = {}
    for key, value in item.items():
        if value is None:
            continue
        try:
            if key in _CONTENT_STRINGS:
                content[key] = _string(value)
            elif key == "content_type":  # per item, as TikTok's own tag and its SDK's PixelContent send it
                content[key] = _content_type(value)
            elif key == "price":
                content[key] = _number(value)
            elif key == "quantity":
                content[key] = _integer(value)
        except _Invalid as error:
            raise _Invalid(error.message, key) from None
    return content


def _content_type(value: Any) -> str:
    if value not in _CONTENT_TYPES:
        raise _Invalid("must be product or product_group")
    return str(value)


def _property(key: str, value: Any, out: dict[str, Any]) -> None:
    """Type one documented property into `out`; other keys are left out."""
    if key in _NUMBER_PROPERTIES:
        out[key] = _number(value)
    elif key == "content_type":
        out[key] = _content_type(value)
    elif key in _STRING_PROPERTIES:
        out[key] = _string(value)
    elif key == "currency":
        currency = _string(value).upper()
        if not _CURRENCY.fullmatch(currency):
            raise _Invalid("must be a three-letter ISO 4217 code")
        out[key] = currency
    elif key == "num_items":
        out[key] = _integer(value)
    elif key == "contents":
        if not isinstance(value, list):
            raise _Invalid("must be a list of objects")
        contents = []
        for index, item in enumerate(value):
            try:
                contents.append(_content(item))
            except _Invalid as error:
                raise _Invalid(error.message, f"{index}.{error.subfield}" if error.subfield else str(index)) from None
        out[key] = contents
    elif key in ("content_ids", "contents_ids", "content_id"):
        values = value if isinstance(value, list) else [value]
        ids = []
        for index, item in enumerate(values):
            try:
                ids.append(_string(item))
            except _Invalid as error:
                raise _Invalid(error.message, str(index)) from None
        out["content_ids"] = ids


def properties_for_tiktok(
    properties: Mapping[str, Any],
    custom_keys: Iterable[str] = (),
    *,
    unsupported_currency: str = "reject",
    default_content_type: str = "",
) -> dict[str, Any]:
    """TikTok's documented properties, typed as TikTok wants them, plus keys a mapping rule named.

    A currency TikTok does not list is rejected, or (`unsupported_currency="drop_value"`) sent without value and
    currency, so the event still counts but without a value TikTok would misread. `default_content_type` is sent
    when the event names products (contents or content_ids) but no content_type, as Segment and RudderStack do:
    catalogue ads need it; with no products it is left out (stape-io/tiktok-tag#17).
    """
    out: dict[str, Any] = {key: properties[key] for key in custom_keys if properties.get(key) is not None}
    for key, value in properties.items():
        if value is not None:
            try:
                _property(key, value, out)
            except _Invalid as error:
                raise error.at(f"properties.{key}") from None
    # TikTok documents both: `search_string` in its Events API 2.0 reference, `query` in its own server-side tag
    # and business SDK; Segment's TikTok-maintained destination sends both.
    if "query" in out or "search_string" in out:
        out.setdefault("search_string", out.get("query"))
        out.setdefault("query", out["search_string"])
    if default_content_type and "content_type" not in out and (out.get("contents") or out.get("content_ids")):
        out["content_type"] = default_content_type
    code = out.get("currency")
    if code is not None and code not in load_catalog().currencies:
        if unsupported_currency == "reject":
            raise PayloadError("properties.currency", f"{code} is not a currency TikTok supports")
        del out["currency"]
        out.pop("value", None)
    return out


def ad_for_tiktok(ad: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _AD_STRINGS:
        if ad.get(key) is not None:
            try:
                out[key] = _string(ad[key])
            except _Invalid as error:
                raise error.at(f"ad.{key}") from None
    for key in _AD_BOOLS:
        if ad.get(key) is not None:
            if not isinstance(ad[key], bool):
                raise PayloadError(f"ad.{key}", "must be true or false")
            out[key] = ad[key]
    return out


def build_event(
    *,
    event: InboundEvent,
    event_name: str,
    event_id: str,
    properties: Mapping[str, Any],
    user: Mapping[str, Any],
    event_source: str,
    page_url: str | None = None,
    lead: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One `data[]` item for a destination of `event_source` (`web`, `app`, `offline` or `crm`)."""
    item: dict[str, Any] = {
        "event": event_name,
        "event_time": event.timestamp,
        "event_id": event_id,
        "user": user_for_source(user, event_source),
        "properties": properties if isinstance(properties, dict) else dict(properties),
        "limited_data_use": event.limited_data_use,
    }
    if event_source == "app":
        app = event.app
        if app is None or not app.id:
            raise PayloadError("app.id", "is required for an app destination (the store app id or package name)")
        item["app"] = {"app_id": app.id}
        if app.name:
            item["app"]["app_name"] = app.name
        if app.version:
            item["app"]["app_version"] = app.version
        if event.ad:
            ad = ad_for_tiktok(event.ad)
            if ad:
                item["ad"] = ad
    elif event_source == "web":
        page = event.page
        url = (page.url if page else None) or page_url
        item["page"] = {"url": url, **({"referrer": page.referrer} if page and page.referrer else {})}
    elif event_source == "crm":
        # Offline and crm events have no page and no app; a crm event is about one TikTok lead.
        if not lead:
            raise PayloadError("lead.lead_id", "is required for a crm destination (the TikTok lead id)")
        item["lead"] = dict(lead)
    return item


def envelope(
    *,
    event_source: str,
    event_source_id: str,
    data: list[dict[str, Any]],
    partner_name: str | None = None,
    test_event_code: str | None = None,
) -> dict[str, Any]:
    """The request body for `POST /open_api/v1.3/event/track/`."""
    body: dict[str, Any] = {"event_source": event_source, "event_source_id": event_source_id}
    if partner_name:
        body["partner_name"] = partner_name
    if test_event_code:
        body["test_event_code"] = test_event_code
    body["data"] = data
    return body

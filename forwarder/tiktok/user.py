"""TikTok's user block: normalise and hash user data, pick the device ids TikTok takes for each source.

Rules from ../shared/tiktok-events-api.md sections 2 and 5. Raw email, phone, external_id, first_name, last_name
and zip_code never leave this module: callers get SHA-256 lowercase hex (or the caller's own 64-hex pre-hashed
value, lowercased). city, state and country are never sent (see `hashed_user`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import phonenumbers

from ..errors import PayloadError
from ..events import InboundEvent

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_ZERO_IDFA = "00000000-0000-0000-0000-000000000000"
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

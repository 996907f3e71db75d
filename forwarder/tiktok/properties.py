"""Events API properties and ad fields, typed as TikTok wants them (../shared/tiktok-events-api.md section 5)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import PayloadError
from .catalog import load_catalog

_CURRENCY = re.compile(r"[A-Z]{3}")

# Property keys TikTok documents; other inbound keys are not forwarded unless a mapping rule names them,
# so free-form SDK properties (which may hold PII) never reach TikTok by accident.
_STRING_PROPERTIES = {"search_string", "query", "description", "order_id", "shop_id", "delivery_category"}
_CONTENT_TYPES = ("product", "product_group")
_NUMBER_PROPERTIES = {"value", "predicted_ltv"}
_CONTENT_STRINGS = ("content_id", "content_name", "content_category", "brand")
_AD_STRINGS = ("callback", "campaign_id", "ad_id", "creative_id", "attribution_type", "attribution_provider")
_AD_BOOLS = ("is_retargeting", "attributed")


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

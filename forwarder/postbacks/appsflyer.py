"""AppsFlyer Push API (raw-data fields, API v2.0), sent as a JSON POST or a GET query string.

Field names from AppsFlyer's raw-data field dictionary, https://support.appsflyer.com/hc/en-us/articles/208387843
and the Push API article, https://support.appsflyer.com/hc/en-us/articles/207034356: `event_name`,
`event_time` (`yyyy-mm-dd hh:mm:ss.sss`, UTC, no zone), `event_revenue` + `event_revenue_currency` (strings),
`event_value` (a JSON string of the SDK's parameters: `af_revenue`, `af_order_id`, `af_content_id`, ...),
`app_id` (`id<number>` on iOS, the package name on Android), `platform`, `idfa`, `idfv`, `advertising_id`,
`ip`, `user_agent`, `customer_user_id`, `appsflyer_id`, `media_source`, `install_time`. The payload has no
event id: ours is derived from `appsflyer_id` + `event_name` + `event_time`, unless the purchase carries an
order id (see the event id rule in README).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from ..errors import PostbackError
from ..settings import SourceSettings
from ..shape import shape_problem
from . import Converted, compact, present

# AppsFlyer's predefined in-app event names -> the SDK-style names our mapping tables use.
EVENT_NAMES = {
    "install": "INSTALL_APP",
    "af_purchase": "PURCHASE",
    "af_start_trial": "START_TRIAL",
    "af_subscribe": "SUBSCRIBE",
    "af_complete_registration": "REGISTRATION",
    "af_login": "LOGIN",
    "af_add_to_cart": "ADD_TO_CART",
    "af_add_to_wishlist": "ADD_TO_WISHLIST",
    "af_initiated_checkout": "CHECKOUT",
    "af_add_payment_info": "ADD_PAYMENT_INFO",
    "af_content_view": "VIEW_CONTENT",
    "af_search": "SEARCH",
    "af_level_achieved": "ACHIEVE_LEVEL",
    "af_tutorial_completion": "COMPLETE_TUTORIAL",
    "af_achievement_unlocked": "UNLOCK_ACHIEVEMENT",
    "af_spent_credits": "SPEND_CREDITS",
    "af_rate": "RATE",
    "af_ad_click": "IN_APP_AD_CLICK",
    "af_ad_view": "IN_APP_AD_IMPR",
}


def parse_time(value: Any, field: str) -> float:
    """AppsFlyer times are UTC without a zone: `2020-01-15 14:57:24.898`."""
    text = present(value)
    if text is None:
        raise PostbackError(field, "is required")
    try:
        return datetime.fromisoformat(str(text).replace(" ", "T")).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise PostbackError(field, "must be `yyyy-mm-dd hh:mm:ss.sss` (UTC)") from None


def _event_value(payload: dict[str, Any]) -> dict[str, Any]:
    """The SDK's event parameters. AppsFlyer documents a JSON object (as a string); anything else (a bare number,
    a list) is refused rather than guessed at: a number could be revenue, a quantity or a level."""
    raw = present(payload.get("event_value"))
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise PostbackError("event_value", "must be a JSON object (as a string)") from None
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, dict):
        raise PostbackError("event_value", "must be a JSON object of event parameters (as a string)")
    if problem := shape_problem(raw):
        raise PostbackError(f"event_value.{problem['field']}", problem["message"])
    return raw


def _store_app_id(payload: dict[str, Any], source: SourceSettings) -> str | None:
    app_id = present(payload.get("app_id"))
    if isinstance(app_id, str) and app_id.startswith("id") and app_id[2:].isdigit():
        return app_id[2:]  # TikTok wants the App Store id, AppsFlyer prefixes it with "id"
    return app_id or source.app_id


def convert(payload: dict[str, Any], source: SourceSettings) -> Converted:
    name = present(payload.get("event_name"))
    if name is None:
        raise PostbackError("event_name", "is required")
    event_time = parse_time(payload.get("event_time"), "event_time")
    values = _event_value(payload)
    platform = str(present(payload.get("platform")) or "").lower() or None
    revenue = present(payload.get("event_revenue")) or present(values.get("af_revenue"))
    currency = present(payload.get("event_revenue_currency")) or present(values.get("af_currency"))
    order_id = present(values.get("af_order_id")) or present(values.get("af_receipt_id"))
    content_id = present(values.get("af_content_id"))
    appsflyer_id = present(payload.get("appsflyer_id")) or ""
    identity = f"{appsflyer_id}|{name}|{payload.get('event_time')}"
    media_source = present(payload.get("media_source"))
    install_time = present(payload.get("install_time"))
    event = compact(
        {
            "event_id": "af_" + hashlib.sha256(identity.encode()).hexdigest()[:32],
            "event": EVENT_NAMES.get(str(name), str(name)),
            "timestamp": event_time,
            "app": {
                "id": _store_app_id(payload, source),
                "name": present(payload.get("app_name")),
                "version": present(payload.get("app_version")),
                "platform": platform if platform in ("ios", "android") else None,
            },
            "user": {"external_id": present(payload.get("customer_user_id"))},
            "device": {
                "idfa": present(payload.get("idfa")),
                "idfv": present(payload.get("idfv")),
                "gaid": present(payload.get("advertising_id")),
                "ip": present(payload.get("ip")),
                "user_agent": present(payload.get("user_agent")),
                "locale": present(payload.get("language")),
            },
            "properties": {
                "value": revenue,
                "currency": currency,
                "order_id": order_id,
                "content_ids": [str(content_id)] if content_id is not None else None,
                "appsflyer_event_name": name,
            },
        }
    )
    return Converted(
        event=event,
        attributed=media_source is not None and str(media_source).lower() != "organic",
        install_time=parse_time(install_time, "install_time") if install_time else None,
    )

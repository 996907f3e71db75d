"""RevenueCat webhooks: JSON POST `{"api_version": "1.0", "event": {...}}`.

Fields from https://www.revenuecat.com/docs/integrations/webhooks/event-types-and-fields: `event.type`
(`INITIAL_PURCHASE`, `RENEWAL`, `NON_RENEWING_PURCHASE`, `CANCELLATION`, `EXPIRATION`, `TEST`, ...),
`period_type` (`TRIAL`, `INTRO`, `NORMAL`), `id` (unique per event), `event_timestamp_ms`, `app_user_id`,
`transaction_id`, `store` (`APP_STORE`, `PLAY_STORE`, ...), `price` (USD, negative for refunds),
`price_in_purchased_currency` + `currency` (the amount the user paid), `product_id`,
`subscriber_attributes` (`$email`, `$phoneNumber`, `$idfa`, `$gpsAdId`, `$idfv`, `$ip`). RevenueCat's `app_id`
is its own id, not the store's: set `app_id` on the source. There is no trial-start type: a trial start is an
`INITIAL_PURCHASE` with `period_type` `TRIAL`, and is sent on as `START_TRIAL`.
"""

from __future__ import annotations

from typing import Any

from ..errors import PostbackError
from ..settings import SourceSettings
from . import Converted, compact, present

STORES = {"APP_STORE": "ios", "MAC_APP_STORE": "ios", "PLAY_STORE": "android"}


def _attribute(attributes: Any, name: str) -> Any:
    entry = attributes.get(name) if isinstance(attributes, dict) else None
    return present(entry.get("value")) if isinstance(entry, dict) else None


def event_name(event: dict[str, Any]) -> str:
    kind = str(event.get("type"))
    if kind == "INITIAL_PURCHASE":
        return "START_TRIAL" if event.get("period_type") == "TRIAL" else "SUBSCRIBE"
    if kind == "NON_RENEWING_PURCHASE":
        return "PURCHASE"
    return kind  # RENEWAL, CANCELLATION, ...: map them in the mapping table if TikTok should see them


def convert(payload: dict[str, Any], source: SourceSettings) -> Converted:
    event = payload.get("event")
    if not isinstance(event, dict):
        raise PostbackError("event", 'is required (a RevenueCat webhook body is {"api_version", "event"})')
    if event.get("type") == "TEST":
        return Converted(skipped="RevenueCat test event")
    if present(event.get("type")) is None:
        raise PostbackError("event.type", "is required")
    if present(event.get("event_timestamp_ms")) is None:
        raise PostbackError("event.event_timestamp_ms", "is required")
    attributes = event.get("subscriber_attributes")
    local_price = present(event.get("price_in_purchased_currency"))
    has_local = local_price is not None and present(event.get("currency")) is not None
    converted = compact(
        {
            "event_id": f"rc_{event['id']}" if present(event.get("id")) is not None else None,
            "event": event_name(event),
            "timestamp": event["event_timestamp_ms"],
            "app": {"id": source.app_id, "platform": STORES.get(str(event.get("store")))},
            "user": {
                "external_id": present(event.get("app_user_id")),
                "email": _attribute(attributes, "$email"),
                "phone": _attribute(attributes, "$phoneNumber"),
            },
            "device": {
                "idfa": _attribute(attributes, "$idfa"),
                "gaid": _attribute(attributes, "$gpsAdId"),
                "idfv": _attribute(attributes, "$idfv"),
                "ip": _attribute(attributes, "$ip"),
            },
            "properties": {
                # The user's own currency when RevenueCat gives it; else its USD figure.
                "value": local_price if has_local else present(event.get("price")),
                "currency": present(event.get("currency"))
                if has_local
                else ("USD" if event.get("price") is not None else None),
                "order_id": present(event.get("transaction_id")),
                "content_ids": [str(event["product_id"])] if present(event.get("product_id")) else None,
            },
        }
    )
    if event.get("environment") == "SANDBOX" and source.skip_sandbox:
        return Converted(skipped="RevenueCat sandbox purchase")
    return Converted(event=converted)

"""Branch webhooks (Data Feeds), default JSON POST body in Branch's Event Ontology.

Fields from Branch's docs (`pages/exports/ua-webhooks.md`, `event_ontology_data_schema.md`; today
https://help.branch.io/developers-hub/docs/webhooks-for-developers): `name` (`INSTALL`, `OPEN`, `PURCHASE`,
custom names; casing varies), `timestamp` (epoch ms, UTC), `id`, `user_data.{os, platform, idfa, idfv, aaid,
ip, user_agent, developer_identity, app_version}`, `event_data.{revenue, currency, transaction_id}`,
`last_attributed_touch_data` / `last_attributed_touch_timestamp` (set when the event is attributed),
`content_items[].{$sku, $quantity, $price}`. The default body has no app id: set `app_id` on the source.
"""

from __future__ import annotations

from typing import Any

from ..errors import PostbackError
from ..settings import SourceSettings
from . import Converted, compact, present

EVENT_NAMES = {
    "INSTALL": "INSTALL_APP",
    "REINSTALL": "INSTALL_APP",
    "OPEN": "LAUNCH_APP",
    "COMPLETE_REGISTRATION": "REGISTRATION",
    "INITIATE_PURCHASE": "CHECKOUT",
    "ADD_PAYMENT_INFO": "ADD_PAYMENT_INFO",
    "VIEW_ITEM": "VIEW_CONTENT",
    "ACHIEVE_LEVEL": "ACHIEVE_LEVEL",
    "COMPLETE_TUTORIAL": "COMPLETE_TUTORIAL",
    "UNLOCK_ACHIEVEMENT": "UNLOCK_ACHIEVEMENT",
    "SPEND_CREDITS": "SPEND_CREDITS",
    "START_TRIAL": "START_TRIAL",
    "SUBSCRIBE": "SUBSCRIBE",
}


def convert(payload: dict[str, Any], source: SourceSettings) -> Converted:
    name = present(payload.get("name"))
    if name is None:
        raise PostbackError("name", "is required")
    timestamp = present(payload.get("timestamp"))
    if timestamp is None:
        raise PostbackError("timestamp", "is required (epoch milliseconds)")
    user: dict[str, Any] = payload["user_data"] if isinstance(payload.get("user_data"), dict) else {}
    data: dict[str, Any] = payload["event_data"] if isinstance(payload.get("event_data"), dict) else {}
    os_name = str(present(user.get("os")) or "").lower()
    items: list[Any] = payload["content_items"] if isinstance(payload.get("content_items"), list) else []
    contents = [
        compact(
            {
                "content_id": present(i.get("$sku")) or present(i.get("$product_name")),
                "quantity": present(i.get("$quantity")),
                "price": present(i.get("$price")),
            }
        )
        for i in items
        if isinstance(i, dict)
    ]
    upper = str(name).upper()
    event = compact(
        {
            "event_id": f"branch_{payload['id']}" if present(payload.get("id")) is not None else None,
            "event": EVENT_NAMES.get(
                upper,
                upper
                if upper in ("PURCHASE", "ADD_TO_CART", "ADD_TO_WISHLIST", "SEARCH", "LOGIN", "RATE")
                else str(name),
            ),
            "timestamp": timestamp,
            "app": {
                "id": source.app_id,
                "version": present(user.get("app_version")),
                "platform": "ios" if os_name == "ios" else "android" if os_name == "android" else None,
            },
            "user": {"external_id": present(user.get("developer_identity"))},
            "device": {
                "idfa": present(user.get("idfa")),
                "idfv": present(user.get("idfv")),
                "gaid": present(user.get("aaid")),
                "ip": present(user.get("ip")),
                "user_agent": present(user.get("user_agent")),
            },
            "properties": {
                "value": present(data.get("revenue")),
                "currency": present(data.get("currency")),
                "order_id": present(data.get("transaction_id")),
                "contents": contents or None,
            },
        }
    )
    touch = payload.get("last_attributed_touch_data")
    attributed = bool(touch) or present(payload.get("last_attributed_touch_timestamp")) is not None
    return Converted(event=event, attributed=attributed)

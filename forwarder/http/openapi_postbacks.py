"""The postback payloads in the OpenAPI description: each platform's documented fields, as the adapters read them.

Platforms send more than they document and more than we read, so every payload allows other properties; the
adapters answer 422 naming the field when one they read cannot be used.
"""

from __future__ import annotations

from typing import Any

_TEXT: dict[str, Any] = {"type": "string"}
_NUMBER_OR_TEXT: dict[str, Any] = {"type": ["number", "string"]}

# AppsFlyer Push API and Adjust callbacks: flat string fields, in a JSON body or in the query string.
APPSFLYER = {
    **dict.fromkeys(
        [
            "event_name",
            "event_time",
            "event_revenue",
            "event_revenue_currency",
            "app_id",
            "platform",
            "app_name",
            "app_version",
            "idfa",
            "idfv",
            "advertising_id",
            "ip",
            "user_agent",
            "language",
            "customer_user_id",
            "appsflyer_id",
            "media_source",
            "install_time",
        ],
        _TEXT,
    ),
    "event_value": {"type": ["string", "object"], "description": "the SDK's event parameters, a JSON object"},
}
ADJUST = dict.fromkeys(
    [
        "activity_kind",
        "event",
        "event_name",
        "gps_adid",
        "idfa",
        "idfv",
        "adid",
        "ip_address",
        "user_agent",
        "app_name",
        "app_version",
        "os_name",
        "currency",
        "transaction_id",
        "tracker_name",
    ],
    _TEXT,
) | dict.fromkeys(("created_at", "installed_at", "revenue_float", "revenue"), _NUMBER_OR_TEXT)
BRANCH = {
    "name": _TEXT,
    "timestamp": {"type": ["integer", "string"], "description": "epoch milliseconds"},
    "id": {"type": ["string", "integer"]},
    "user_data": {"type": "object", "additionalProperties": _TEXT},
    "event_data": {"type": "object"},
    "content_items": {"type": "array", "items": {"type": "object"}},
    "last_attributed_touch_data": {"type": "object"},
    "last_attributed_touch_timestamp": {"type": ["integer", "string", "null"]},
}
REVENUECAT = {
    "api_version": _TEXT,
    "event": {
        "type": "object",
        "properties": {
            "type": _TEXT,
            "id": _TEXT,
            "period_type": _TEXT,
            "event_timestamp_ms": {"type": "integer"},
            "app_user_id": _TEXT,
            "transaction_id": _TEXT,
            "product_id": _TEXT,
            "store": _TEXT,
            "environment": _TEXT,
            "price": {"type": "number"},
            "price_in_purchased_currency": {"type": "number"},
            "currency": _TEXT,
            "subscriber_attributes": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"value": _TEXT}},
            },
        },
    },
}


def _object(title: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "type": "object", "properties": properties}


def postback_body() -> dict[str, Any]:
    """Any platform's JSON body; a `generic` source reads the paths its `fields` table names."""
    return {
        "anyOf": [
            _object("AppsFlyer Push API", APPSFLYER),
            _object("Adjust callback", ADJUST),
            _object("Branch webhook", BRANCH),
            _object("RevenueCat webhook", REVENUECAT),
            {"title": "generic: the paths named by the source's `fields`", "type": "object"},
        ]
    }


def postback_query() -> list[dict[str, Any]]:
    """The query parameters of a GET callback: AppsFlyer's and Adjust's fields (a generic source's are its own)."""
    names = sorted(set(APPSFLYER) | set(ADJUST))
    return [{"name": name, "in": "query", "required": False, "schema": _TEXT} for name in names]

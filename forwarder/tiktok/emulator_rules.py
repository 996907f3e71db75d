"""What the emulator refuses with 40002, as strict as TikTok's documentation and no stricter.

Where the docs state a rule the request is refused (`Invalid`); where TikTok's behaviour is unknown the event is
accepted and a warning recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .catalog import load_catalog

_HASHED = re.compile(r"[0-9a-f]{64}")
_HASHED_USER_FIELDS = ("email", "phone", "external_id")
_WEB_ONLY, _APP_ONLY = frozenset({"ttclid", "ttp"}), frozenset({"idfa", "idfv", "gaid", "att_status"})
_FIELDS_OF_THE_OTHER_SOURCE = {"web": _APP_ONLY, "app": _WEB_ONLY, "offline": _APP_ONLY, "crm": _APP_ONLY}
_ATT_STATUSES = frozenset({"AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"})
MAX_EVENTS = 1000


class Invalid(Exception):
    pass


Warn = Callable[[str, str], None]  # (field, message) for one event


def validate_body(body: Any, warnings: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The events of a valid request body, or Invalid with TikTok's style of 40002 message; what TikTok's
    behaviour is unknown on is accepted and appended to `warnings` as {event_id, field, message}."""
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object.")
    source = body.get("event_source")
    if source not in ("web", "app", "offline", "crm"):
        raise Invalid("Invalid value for event_source: must be one of web, app, offline, crm.")
    if not isinstance(body.get("event_source_id"), str) or not body["event_source_id"]:
        raise Invalid("Invalid value for event_source_id: not a valid string.")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise Invalid("Invalid value for data: must be a non-empty list.")
    if len(data) > MAX_EVENTS:
        raise Invalid(f"Invalid value for data: at most {MAX_EVENTS} events per request.")
    catalog = load_catalog()
    for index, event in enumerate(data):

        def warn(path: str, message: str, event: Any = event) -> None:
            if warnings is not None:
                event_id = event.get("event_id") if isinstance(event, dict) else None
                warnings.append({"event_id": event_id, "field": path, "message": message})

        _validate_event(f"data.{index}", event, source, catalog.standard.get(source, frozenset()), warn)
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_event(where: str, event: Any, source: str, standard: frozenset[str], warn: Warn) -> None:
    if not isinstance(event, dict):
        raise Invalid(f"{where}: Not a valid object.")
    if not isinstance(event.get("event"), str) or not event["event"]:
        raise Invalid(f"{where}.event: Not a valid string.")
    if not _is_int(event.get("event_time")):
        raise Invalid(f"{where}.event_time: Not a valid integer.")
    if event["event_time"] > 10**11:
        raise Invalid(f"{where}.event_time: must be a Unix timestamp in seconds.")
    if "event_id" in event and not isinstance(event["event_id"], str):
        raise Invalid(f"Invalid value for event_id: not a valid string. ({where}.event_id)")
    if "limited_data_use" in event and not isinstance(event["limited_data_use"], bool):
        raise Invalid(f"{where}.limited_data_use: Not a valid boolean.")
    _validate_user(f"{where}.user", event.get("user", {}), warn)
    user = event.get("user", {})
    for key in sorted(set(user) & _FIELDS_OF_THE_OTHER_SOURCE.get(source, frozenset())):
        # TikTok's reference says which source a field is valid for, not what it does with it elsewhere.
        warn(f"user.{key}", f"documented for another event source than {source}: TikTok may ignore it")
    _validate_properties(f"{where}.properties", event.get("properties", {}))
    if source == "app" and not (isinstance(event.get("app"), dict) and isinstance(event["app"].get("app_id"), str)):
        raise Invalid(f"{where}.app.app_id: Missing data for required field.")
    if source == "web" and not (isinstance(event.get("page"), dict) and event["page"].get("url")):
        # TikTok's reference lists page for web events; whether the API refuses an event without it is unknown.
        warn("page.url", "missing on a web event: TikTok may not attribute it (whether it refuses it is unknown)")
    if source in ("offline", "crm"):
        _validate_offline_or_crm(where, event, source)
    elif event["event"] not in standard and _looks_like_wrong_standard(event["event"]):
        # Sent as a custom event or refused? TikTok does not say; the name is almost certainly a mistake.
        warn("event", f"{event['event']} is a standard event of another event source, not of {source}")


def _validate_offline_or_crm(where: str, event: dict[str, Any], source: str) -> None:
    """TikTok's reference: offline events take standard names only; crm events carry `lead.lead_id`."""
    if source == "offline":
        # The reference also says offline standard events are the web ones, so a web name is taken.
        catalog = load_catalog()
        if not (catalog.is_standard("offline", event["event"]) or catalog.is_standard("web", event["event"])):
            raise Invalid(
                f"{where}.event: {event['event']} is not a standard event; offline takes standard events only."
            )
        return
    lead = event.get("lead")
    if not isinstance(lead, dict):
        raise Invalid(f"{where}.lead: Missing data for required field.")
    if not lead.get("lead_id"):
        raise Invalid(f"{where}.lead.lead_id: Missing data for required field.")
    if not isinstance(lead["lead_id"], str):
        raise Invalid(f"{where}.lead.lead_id: Not a valid string.")
    if "lead_event_source" in lead and not isinstance(lead["lead_event_source"], str):
        raise Invalid(f"{where}.lead.lead_event_source: Not a valid string.")


def _validate_user(where: str, user: Any, warn: Warn) -> None:
    if not isinstance(user, dict):
        raise Invalid(f"{where}: Not a valid object.")
    for key in _HASHED_USER_FIELDS:
        values = user.get(key, [])
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and _HASHED.fullmatch(value):
                continue
            if isinstance(value, str) and _HASHED.fullmatch(value.lower()):
                # TikTok asks for SHA-256; the case of the hex digits is not documented (every peer sends lower).
                warn(f"user.{key}", "upper-case hex digest: TikTok documents SHA-256, not the case; send lower-case")
            else:
                raise Invalid(f"{where}.{key}: must be a SHA-256 hex digest.")
    for key in ("ip", "user_agent", "locale", "idfa", "idfv", "gaid", "ttclid", "ttp"):
        if key in user and not isinstance(user[key], str):
            raise Invalid(f"{where}.{key}: Not a valid string.")
    if "att_status" in user and user["att_status"] not in _ATT_STATUSES:
        raise Invalid(f"{where}.att_status: must be one of {', '.join(sorted(_ATT_STATUSES))}.")


def _validate_properties(where: str, properties: Any) -> None:
    if not isinstance(properties, dict):
        raise Invalid(f"{where}: Not a valid object.")
    if "value" in properties and not _is_number(properties["value"]):
        raise Invalid(f"{where}.value: Not a valid number.")
    if "currency" in properties and properties["currency"] not in load_catalog().currencies:
        raise Invalid(f"{where}.currency: Invalid currency code.")
    for key in ("order_id", "shop_id", "content_type", "search_string", "query", "description"):
        if key in properties and not isinstance(properties[key], str):
            raise Invalid(f"{where}.{key}: Not a valid string.")
    if properties.get("content_type", "product") not in ("product", "product_group"):
        raise Invalid(f"{where}.content_type: must be one of product, product_group.")
    if "num_items" in properties and not _is_int(properties["num_items"]):
        raise Invalid(f"{where}.num_items: Not a valid integer.")
    if "content_ids" in properties and not (
        isinstance(properties["content_ids"], list) and all(isinstance(v, str) for v in properties["content_ids"])
    ):
        raise Invalid(f"{where}.content_ids: Not a valid list of strings.")
    contents = properties.get("contents", [])
    if not isinstance(contents, list):
        raise Invalid(f"{where}.contents: Not a valid list.")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise Invalid(f"{where}.contents.{i}: Not a valid object.")
        if "content_id" in content and not isinstance(content["content_id"], str):
            raise Invalid(f"{where}.contents.{i}.content_id: Not a valid string")
        if "price" in content and not _is_number(content["price"]):
            raise Invalid(f"{where}.contents.{i}.price: Not a valid number.")
        if "quantity" in content and not _is_int(content["quantity"]):
            raise Invalid(f"{where}.contents.{i}.quantity: Not a valid integer.")


def _looks_like_wrong_standard(name: str) -> bool:
    """A standard name of the other event source (e.g. `Registration` on web) is an error, not a custom event."""
    catalog = load_catalog()
    return any(name in names for names in catalog.standard.values())

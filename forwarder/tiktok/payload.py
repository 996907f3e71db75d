"""Events API 2.0 bodies: one `data[]` item per event and the request envelope around them.

The user block comes from `user.py`, properties and ad fields from `properties.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import PayloadError
from ..events import InboundEvent
from .properties import ad_for_tiktok
from .user import user_for_source


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

"""TikTok's `lead` object for crm events: which TikTok lead an event is about, and which CRM reported it.

TikTok's /event/track/ reference: `lead` is required for crm events and `lead.lead_id` within it (the id TikTok's
Leads Center or /page/lead/task/download/ gives each lead); `lead_event_source` names the CRM, e.g. HubSpot.
"""

from __future__ import annotations

from typing import Any

from ..errors import PayloadError
from ..events import InboundEvent

MAX_LEAD_TEXT = 256


def lead_for_tiktok(event: InboundEvent, default_source: str | None = None) -> dict[str, str] | None:
    """The `lead` object for a crm destination, or None when the event names no lead id.

    `lead.lead_id` wins; `properties.lead_id` is read too, where Segment's and RudderStack's users keep it.
    `default_source` (the destination's `lead_event_source`) fills in a CRM name the event does not give.
    """
    lead, properties = event.lead, event.properties
    lead_id = lead.lead_id if lead is not None else None
    lead_id = lead_id or _text("properties.lead_id", properties.get("lead_id"))
    if lead_id is None:
        return None
    block = {"lead_id": lead_id}
    source = lead.lead_event_source if lead is not None else None
    source = source or _text("properties.lead_event_source", properties.get("lead_event_source")) or default_source
    if source:
        block["lead_event_source"] = source
    return block


def _text(field: str, value: Any) -> str | None:
    """An id as TikTok wants it, a string; numbers are taken as their digits."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_LEAD_TEXT:
        raise PayloadError(field, f"must be a non-empty string of at most {MAX_LEAD_TEXT} characters")
    return value.strip()

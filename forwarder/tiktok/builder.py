"""The TikTok destination kind's answer to planning's `PayloadBuilder` (mapping/payloads.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import InboundEvent
from ..mapping.tables import MappedEvent
from ..settings import DestinationSettings, Settings
from .event_names import native_names
from .leads import lead_for_tiktok
from .payload import build_event
from .properties import properties_for_tiktok
from .user import hashed_user


class TikTokPayloads:
    def native(self, destination: DestinationSettings) -> Callable[[str], bool]:
        return native_names(destination.event_source)

    def hashed_user(self, event: InboundEvent, settings: Settings) -> dict[str, Any]:
        return hashed_user(event, settings.tiktok.default_phone_region)

    def lead(self, event: InboundEvent, destination: DestinationSettings) -> dict[str, str] | None:
        return lead_for_tiktok(event, destination.lead_event_source)

    def properties(self, mapped: MappedEvent, destination: DestinationSettings, settings: Settings) -> dict[str, Any]:
        return properties_for_tiktok(
            mapped.properties,
            mapped.rule_keys,
            unsupported_currency=settings.tiktok.unsupported_currency,
            default_content_type=destination.default_content_type,
        )

    def item(
        self,
        *,
        event: InboundEvent,
        event_name: str,
        event_id: str,
        properties: dict[str, Any],
        user: dict[str, Any],
        destination: DestinationSettings,
        lead: dict[str, str] | None,
    ) -> dict[str, Any]:
        return build_event(
            event=event,
            event_name=event_name,
            event_id=event_id,
            properties=properties,
            user=user,
            event_source=destination.event_source,
            page_url=destination.page_url,
            lead=lead,
        )

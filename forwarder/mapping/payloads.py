"""What planning asks of a destination kind: the hashed user, the lead and each item's payload.

Planning maps events; the destination kind (tiktok/builder.py) knows its wire format. Whoever builds a `Routing`
hands it one, so that imports point down the flow: mapping never imports a destination kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..events import InboundEvent
from ..settings import DestinationSettings, Settings
from .tables import MappedEvent


class PayloadBuilder(Protocol):
    def native(self, destination: DestinationSettings) -> Callable[[str], bool]:
        """Whether an inbound name is already the destination's own event name (sent without a mapping rule)."""
        ...

    def hashed_user(self, event: InboundEvent, settings: Settings) -> dict[str, Any]:
        """The user block, personal data hashed: it goes into every item and into the stored document."""
        ...

    def lead(self, event: InboundEvent, destination: DestinationSettings) -> dict[str, str] | None:
        """The lead block of a crm destination's items, or None when the event has no lead id."""
        ...

    def properties(self, mapped: MappedEvent, destination: DestinationSettings, settings: Settings) -> dict[str, Any]:
        """The mapped properties, typed and checked for the destination (PayloadError when invalid)."""
        ...

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
        """One item of the destination's batch."""
        ...

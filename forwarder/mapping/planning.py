"""From one validated inbound event to the outbox items of every destination it goes to."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import PayloadError
from ..events import InboundEvent, check_event_time, derive_event_id
from ..settings import DestinationSettings, Settings
from ..store import OrderClaim, OutboxItem
from .field_warnings import rule_paths
from .payloads import PayloadBuilder
from .stored_event import mapping_document, stored_document
from .tables import MappingTable, map_event


@dataclass
class Plan:
    """What to store for one event: items per destination, destinations that dropped it, or why it is rejected."""

    event_id: str | None = None
    items: list[OutboxItem] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # destination -> unmapped|filtered|denied|no_lead_id
    value_dropped: list[str] = field(default_factory=list)  # destinations sent no value: unsupported currency
    stored_document: bytes | None = None  # the event without personal data in the clear (stored_event.py)
    errors: list[dict[str, str]] = field(default_factory=list)
    orders: list[OrderClaim] | None = None  # items that carry an order id (`item` counts within `items`)
    document: dict[str, Any] | None = None  # what rules read: the event as posted, personal data hashed


@dataclass(frozen=True)
class Routing:
    """An immutable snapshot of destinations and mapping tables; one snapshot maps a whole event."""

    settings: Settings
    tables: dict[str, MappingTable]
    payloads: PayloadBuilder  # the destination kind's payloads, handed in by whoever builds the snapshot
    # (source, app id) -> destinations; the snapshot never changes, so neither do the answers.
    _destinations: dict[tuple[str, str | None], list[tuple[str, DestinationSettings]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @functools.cached_property
    def fields_in_use(self) -> frozenset[str]:
        """Fields the mapping rules read: not ours, yet not unknown either (field_warnings.py)."""
        return rule_paths(self.tables.values())

    def destinations_for(self, source: str, event: InboundEvent) -> list[tuple[str, DestinationSettings]]:
        app_id = event.app.id if event.app else None
        found = self._destinations.get((source, app_id))
        if found is None:
            wanted = self.settings.sources[source].destinations
            found = [
                (name, destination)
                for name, destination in self.settings.destinations.items()
                if (wanted is None or name in wanted) and (destination.app_ids is None or app_id in destination.app_ids)
            ]
            if len(self._destinations) < 10_000:  # app ids come from clients: bound what they can make us keep
                self._destinations[source, app_id] = found
        return found

    def _order_sources(self, source: str) -> tuple[str, ...]:
        """The sources whose earlier report of an order makes `source`'s report of it a duplicate."""
        return (source, *self.settings.sources[source].dedup_orders_with)

    def plan(self, event: InboundEvent, source: str, now: float, raw: dict[str, Any] | None = None) -> Plan:
        """`raw` is the event as posted: mapping paths and conditions read it, as ops wrote them against it, less
        the personal data stored_event.py leaves out."""
        tiktok = self.settings.tiktok
        time_error = check_event_time(
            event.timestamp, now, max_age_s=tiktok.max_event_age_h * 3600, max_future_s=tiktok.max_future_skew_s
        )
        if time_error:
            return Plan(errors=[{"field": "timestamp", "message": time_error}])
        # The sender's event_id goes to TikTok unchanged: TikTok deduplicates pixel and server events on it.
        event_id = event.event_id or derive_event_id(event)
        plan = Plan(event_id=event_id)
        # An event without an order id pays this lookup and nothing else.
        order_id = order_key(found) if (found := event.properties.get("order_id")) is not None else None
        if order_id is not None:
            plan.orders, order_sources = [], self._order_sources(source)
        # The most specific test_event_code wins: the event's own, then its source's, then the destination's.
        test_code = event.test_event_code or self.settings.sources[source].test_event_code
        try:
            user = self.payloads.hashed_user(event, self.settings)
            posted = raw if raw is not None else event.model_dump(mode="json")
            document = mapping_document(posted, user, event_id)
            plan.document = document
            if self.settings.store.keep_inbound_h > 0:
                plan.stored_document = stored_document(document)
            for name, destination in self.destinations_for(source, event):
                table = self.tables[destination.mapping]
                native = self.payloads.native(destination)
                result = map_event(table, event.event, document, native=native, unmapped=destination.unmapped)
                if result.dropped:
                    plan.dropped[name] = result.dropped
                lead = None
                if destination.event_source == "crm" and result.events:
                    # TikTok requires lead.lead_id on crm events; one without is not for this destination.
                    lead = self.payloads.lead(event, destination)
                    if lead is None:
                        plan.dropped[name] = "no_lead_id"
                        continue
                for mapped in result.events:
                    properties = self.payloads.properties(mapped, destination, self.settings)
                    if "currency" in mapped.properties and "currency" not in properties:
                        plan.value_dropped.append(name)
                    item = self.payloads.item(
                        event=event,
                        event_name=mapped.event,
                        event_id=event_id,
                        properties=properties,
                        user=user,
                        destination=destination,
                        lead=lead,
                    )
                    payload = orjson.dumps(item)
                    if plan.orders is not None:
                        claim = _order_claim(len(plan.items), str(order_id), source, order_sources, properties)
                        plan.orders.append(claim)
                    code = test_code or destination.test_event_code
                    plan.items.append(OutboxItem(name, mapped.event, event_id, payload, code, table.label))
        except PayloadError as error:
            # All destinations or none: a partly stored event would confuse the client's resend.
            return Plan(errors=[{"field": error.field, "message": error.message}])
        return plan


def order_key(order_id: Any) -> str | None:
    """A purchase's store transaction id, which identifies it wherever it comes from (SDK, AppsFlyer, RevenueCat...),
    or None when `properties.order_id` is absent or not an id."""
    if order_id is None or isinstance(order_id, bool) or not isinstance(order_id, str | int):
        return None
    text = str(order_id).strip()
    return text[:256] or None


def _order_claim(
    index: int, order_id: str, source: str, sources: tuple[str, ...], properties: dict[str, Any]
) -> OrderClaim:
    value = properties.get("value")
    currency = properties.get("currency")
    return OrderClaim(
        index,
        order_id,
        source,
        sources,
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None,
        currency if isinstance(currency, str) else None,
    )

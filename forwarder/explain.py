"""`forwarder explain`: the exact Events API request each destination would get for an event, or why none."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from .errors import BadRequest
from .events import InboundEvent, field_errors, parse_events
from .mapping.planning import Routing
from .tiktok.client import TRACK_PATH
from .tiktok.payload import envelope


def explain(routing: Routing, body: bytes, source: str, now: float) -> dict[str, Any]:
    """For each event in `body`: per destination, the request body it would send, or the reason it would not."""
    settings = routing.settings
    try:
        raw_events, _ = parse_events(body, settings.server.max_events_per_request)
    except BadRequest as error:
        return {"error": error.error, "message": error.message, "field": error.field}
    return {"events": [_explain_one(routing, index, raw, source, now) for index, raw in enumerate(raw_events)]}


def _explain_one(routing: Routing, index: int, raw: Any, source: str, now: float) -> dict[str, Any]:
    try:
        event = InboundEvent.model_validate(raw)
    except ValidationError as error:
        return {"index": index, "rejected": field_errors(error)}
    plan = routing.plan(event, source, now, raw)
    if plan.errors:
        return {"index": index, "rejected": plan.errors}
    settings = routing.settings
    routed = {name for name, _ in routing.destinations_for(source, event)}
    destinations: dict[str, Any] = {}
    for name, destination in settings.destinations.items():
        table = routing.tables[destination.mapping]
        if name not in routed:
            destinations[name] = {"status": "not_routed", "reason": _why_not_routed(routing, name, source, event)}
        elif name in plan.dropped:
            destinations[name] = {"status": "dropped", "reason": _why_dropped(plan.dropped[name], event, table.label)}
        else:
            items = [item for item in plan.items if item.destination == name]
            body = envelope(
                event_source=destination.event_source,
                event_source_id=destination.event_source_id,
                data=[json.loads(item.payload) for item in items],
                partner_name=settings.tiktok.partner_name,
                test_event_code=items[0].test_event_code if items else None,
            )
            destinations[name] = {
                "status": "send",
                "events": [item.event for item in items],
                "mapping": table.label,
                "note": "unsupported currency: sent without value" if name in plan.value_dropped else None,
                "request": {"method": "POST", "url": settings.tiktok.base_url.rstrip("/") + TRACK_PATH, "body": body},
            }
    return {"index": index, "event_id": plan.event_id, "destinations": destinations}


def _why_dropped(reason: str, event: InboundEvent, table: str) -> str:
    if reason == "denied":
        return f"{event.event!r} is excluded by the allow or deny list of mapping table {table}"
    if reason == "no_lead_id":
        return "crm destinations take lead events only, and the event has no lead.lead_id (nor properties.lead_id)"
    if reason == "filtered":
        return f"no rule for {event.event!r} in mapping table {table} has its `when` conditions met"
    return (
        f"{event.event!r} is not in mapping table {table} nor a TikTok standard event for this destination, "
        "and unmapped events are dropped"
    )


def _why_not_routed(routing: Routing, name: str, source: str, event: InboundEvent) -> str:
    wanted = routing.settings.sources[source].destinations
    if wanted is not None and name not in wanted:
        return f"source {source!r} sends only to {', '.join(wanted)}"
    return f"app id {event.app.id if event.app else None!r} is not in the destination's app_ids"

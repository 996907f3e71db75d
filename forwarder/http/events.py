"""The HTTP edge for events: authenticate, read and validate, plan, commit, answer. No outbound HTTP here."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import BadRequest, StoreUnavailable
from ..events import PARTS, InboundEvent, field_errors, parse_events
from ..mapping import not_forwarded
from ..mapping.field_warnings import unknown_fields
from ..mapping.planning import Plan
from ..runtime import Runtime
from ..shape import shape_problem
from ..store import InboundRecord, IngestWrite, OrderClaim, OutboxItem, Stored
from ..store.audiences import ActivityRecord, AudienceSignal
from ..store.base import CounterKey
from .auth import signature_problem
from .requests import admit, read_body, refusal

log = structlog.get_logger(__name__)

_EVENT_FIELDS = frozenset(InboundEvent.model_fields)
_PART_FIELDS = {name: frozenset(model.model_fields) for name, model in PARTS.items()}


class FastJSONResponse(JSONResponse):
    """The ingest answer, encoded with orjson: it is on the hot path."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _validate(raw: Any) -> InboundEvent | list[dict[str, str]]:
    if not isinstance(raw, dict):
        return [{"field": "(event)", "message": "must be a JSON object"}]
    if problem := shape_problem(raw):
        return [problem]
    try:
        return InboundEvent.model_validate(raw)
    except ValidationError as error:
        return field_errors(error)


def _metric_field(errors: list[dict[str, str]]) -> str:
    """The first field named, cut to the model's own field names, so the label stays bounded.

    Free-form fields (`properties`, `ad`, extras) have client-chosen keys: they are labelled by their parent.
    """
    parts = errors[0]["field"].split(".") if errors else []
    if not parts or parts[0] not in _EVENT_FIELDS:
        return "(event)" if not parts or parts[0] == "(event)" else "(extra)"
    nested = _PART_FIELDS.get(parts[0], frozenset())
    return f"{parts[0]}.{parts[1]}" if len(parts) > 1 and parts[1] in nested else parts[0]


class EventsEndpoint:
    """`POST /v1/events` as a bare ASGI app in front of the Starlette app, which serves every other route.

    This is the hot path: skipping Starlette's middleware, router and request/response wrappers saves about a
    fifth of the CPU time of a single-event request (py-spy, `bench/ingest.py`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/events" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        runtime: Runtime = scope["state"]["runtime"]
        started = time.perf_counter()
        try:
            response = await self._post_events(runtime, Request(scope, receive))
        except Exception:
            log.exception("ingest.failed")
            response = JSONResponse({"error": "internal_error", "message": "the request failed; retry"}, 500)
        await response(scope, receive, send)
        runtime.metrics.observe_ingest(response.status_code, time.perf_counter() - started)

    async def _post_events(self, runtime: Runtime, request: Request) -> Response:
        caller = runtime.keyring.caller(request)
        if refused := await admit(request, runtime, caller, "/v1/events"):
            return refused
        assert caller is not None
        source = caller.source
        server = runtime.settings.server
        try:
            body = await read_body(request, server.max_body_bytes, server.body_timeout_s)
            problem = signature_problem(
                runtime.settings.sources[source], request.headers, request.scope["query_string"], body, runtime.clock()
            )
            if problem:
                raise BadRequest(401, "invalid_signature", problem.message, field=problem.field)
            raw_events, is_batch = parse_events(body, server.max_events_per_request)
        except BadRequest as error:
            log.info("ingest.bad_request", source=source, error=error.error, status=error.status)
            return refusal(error)
        return await accept_events(runtime, source, raw_events, is_batch)


async def accept_events(
    runtime: Runtime, source: str, raw_events: list[Any], is_batch: bool, *, extra: dict[str, Any] | None = None
) -> Response:
    """Validate, map and store events in our inbound format: the path shared by `/v1/events` and postbacks."""
    now = runtime.clock()
    snapshot = runtime.snapshot  # one snapshot for the whole request
    routing, audience_rules = snapshot.routing, snapshot.audience_rules
    signals: list[AudienceSignal] = []
    activity: list[ActivityRecord] = []
    counters: Counter[CounterKey] = Counter({("source", source, "received"): len(raw_events)})
    rejected: list[dict[str, Any]] = []
    plans = []
    names = []
    indexes: list[int] = []  # each plan's position in the request
    warnings: list[dict[str, Any]] = []
    orders = False  # whether any event carries an order id
    for index, raw in enumerate(raw_events):
        event = _validate(raw)
        if not isinstance(event, InboundEvent):
            rejected.append({"index": index, "errors": event})
            continue
        plan = routing.plan(event, source, now, raw)
        if plan.errors:
            rejected.append({"index": index, "errors": plan.errors})
            continue
        for name, reason in plan.dropped.items():
            counters["destination", name, reason] += 1
        for name in plan.value_dropped:
            counters["destination", name, "value_dropped"] += 1
        for item in plan.items:
            counters["destination", item.destination, "received"] += 1
        if plan.orders:
            orders = True
        if audience_rules.names and plan.document is not None and plan.event_id is not None:
            signals += audience_rules.signals(
                event.event, plan.event_id, plan.document, event.timestamp, event.limited_data_use
            )
            activity += audience_rules.counted(
                event.event, plan.event_id, plan.document, event.timestamp, event.limited_data_use
            )
        plans.append(plan)
        names.append(event.event)
        indexes.append(index)
        warnings += [{"index": index, **w} for w in unknown_fields(event, routing.fields_in_use)]
    counters["source", source, "rejected"] += len(rejected)
    # Accepted and sent nowhere: said in the answer, counted per name, logged (mapping/not_forwarded.py).
    unsent = [
        (index, name, why, plan)
        for index, name, plan in zip(indexes, names, plans, strict=True)
        if (why := not_forwarded.reason(plan))
    ]

    inbound = [
        InboundRecord(source, plan.event_id, event_name, plan.stored_document)
        for plan, event_name in zip(plans, names, strict=True)
        if plan.stored_document is not None and plan.event_id is not None
    ]
    write = IngestWrite(items=[item for plan in plans for item in plan.items], counters=counters, inbound=inbound)
    write.audience_signals, write.activity = signals, activity
    if orders:  # rare: events with an order id; their claims' indexes count within the whole write
        write.orders = _order_claims(plans)
    if unsent:
        write.not_forwarded = not_forwarded.tally(source, [(n, why, p.event_id or "") for _, n, why, p in unsent])
    try:
        inserted = await runtime.store.enqueue(write, now)
    except StoreUnavailable as error:
        log.error("ingest.store_unavailable", source=source, error=str(error))
        return JSONResponse(
            {"error": "store_unavailable", "message": "events were not stored; retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    _count(runtime, source, len(raw_events), rejected, plans, write.items, inserted)
    if unsent:
        runtime.not_forwarded_log.note(write.not_forwarded, now)
        runtime.metrics.count_not_forwarded(write.not_forwarded)
    runtime.recent_names.note(plans, names, now)  # a reload must not stop mapping these (reload/apply.py)
    woken = {item.destination for item, new in zip(write.items, inserted, strict=True) if new}
    if woken:
        runtime.wake_delivery(woken)

    accepted = duplicates = 0
    held: list[dict[str, Any]] = []
    position = 0
    for index, plan in zip(indexes, plans, strict=True):
        new = inserted[position : position + len(plan.items)]
        position += len(plan.items)
        is_held = orders and Stored.HELD in new
        if is_held:
            where = [item.destination for item, what in zip(plan.items, new, strict=True) if what is Stored.HELD]
            held.append({"index": index, "event_id": plan.event_id, "reason": "order_conflict", "destinations": where})
        if any(new) or not plan.items:
            accepted += 1
        elif not is_held:
            duplicates += 1
    if rejected:
        log.info("ingest.rejected", source=source, rejected=rejected[:20], count=len(rejected))
    answer: dict[str, Any] = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected, **(extra or {})}
    if held:
        # Stored, not sent: the same order was reported earlier with another value, currency or TikTok event.
        log.warning("ingest.order_conflict", source=source, event_ids=[h["event_id"] for h in held][:20])
        answer["held"] = held
    if unsent:
        answer["not_forwarded"] = [
            {"index": index, "event": name, "reason": why, "destinations": plan.dropped}
            for index, name, why, plan in unsent
        ]
    if warnings:
        answer["warnings"] = warnings
    if not plans:
        answer = {"error": "invalid_event" if not is_batch else "invalid_events", **answer}
        return FastJSONResponse(answer, status_code=422)
    return FastJSONResponse(answer, status_code=202)


def _order_claims(plans: list[Plan]) -> list[OrderClaim]:
    claims, offset = [], 0
    for plan in plans:
        claims += [claim._replace(item=offset + claim.item) for claim in plan.orders or ()]
        offset += len(plan.items)
    return claims


def _count(
    runtime: Runtime,
    source: str,
    received: int,
    rejected: list[dict[str, Any]],
    plans: list[Plan],
    items: list[OutboxItem],
    inserted: list[Stored],
) -> None:
    """Prometheus counters for the request, one increment per label set (not per event)."""
    runtime.metrics.count_ingest(
        source,
        received,
        Counter(_metric_field(rejection["errors"]) for rejection in rejected),
        Counter(pair for plan in plans for pair in plan.dropped.items()),
        Counter((item.destination, is_new) for item, is_new in zip(items, inserted, strict=True)),
    )

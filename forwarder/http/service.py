"""The service's own routes: `GET /healthz`, `/readyz`, `/v1/stats`, `/metrics`, `/v1/events/{event_id}` (the
ledger), and the answer when the store is unreachable."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..audiences.performance import performances
from ..audiences.report import audience_documents
from ..reporting.gauges import latest_day_values
from ..runtime import Runtime
from ..stats import collect_stats
from .admin import require_admin

log = structlog.get_logger(__name__)


async def store_unavailable(request: Request, error: Exception) -> Response:
    log.error("store.unavailable", path=request.url.path, error=str(error))
    return JSONResponse(
        {"error": "store_unavailable", "message": "the store cannot be reached; retry later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready means: ingest would store an event now (store reachable, no backpressure) and delivery runs."""
    runtime: Runtime = request.state.runtime
    store_ready = await runtime.store.ping()
    delivery_ready = runtime.is_delivery_running()
    reason = (
        runtime.overloaded
        or (None if store_ready else "the store cannot be reached")
        or (None if delivery_ready else "the delivery worker is not running")
    )
    body = {"status": "not_ready" if reason else "ready", "store": store_ready, "delivery": delivery_ready}
    return JSONResponse({**body, "reason": reason} if reason else body, status_code=503 if reason else 200)


async def stats(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if runtime.settings.admin_token is not None and (denied := require_admin(request, runtime)):
        return denied
    body = await collect_stats(runtime.store, runtime.settings, runtime.clock(), runtime.descriptions())
    return JSONResponse({**body, "config": runtime.config_status()})


async def event_ledger(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    event_id = request.path_params["event_id"]
    if "\x00" in event_id:  # ingest refuses NUL, so no event has one; PostgreSQL would refuse the query
        return JSONResponse(
            {"error": "invalid_event_id", "field": "event_id", "message": "contains a NUL character (U+0000)"},
            status_code=400,
        )
    ledger = await runtime.store.ledger(event_id)
    found = bool(ledger["received"] or ledger["deliveries"] or ledger["orders"])
    return JSONResponse(ledger if found else {"error": "not_found", **ledger}, status_code=200 if found else 404)


async def metrics(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if runtime.settings.admin_token is not None and (denied := require_admin(request, runtime)):
        return denied
    runtime.metrics.refresh_queue(await runtime.store.stats(runtime.clock()))
    if runtime.audience_gauges is not None and runtime.settings.audiences:
        runtime.audience_gauges.refresh(await audience_documents(runtime.store, runtime.settings))
        runtime.audience_gauges.refresh_lift(await performances(runtime.store, runtime.settings, runtime.clock()))
    runtime.metrics.refresh_reports(await latest_day_values(runtime.store, runtime.settings))
    return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

"""The composition root: `create_app()` builds the ASGI app from settings; the lifespan owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .auth import KeyRing, is_bearer
from .check import check_mappings
from .delivery import Delivery, run_worker
from .errors import ConfigError
from .ingest import post_events
from .logs import configure_logging
from .routing import Routing
from .runtime import Runtime
from .settings import Settings, load_settings
from .stats import collect_stats
from .store import make_store
from .tiktok.client import EventsApiClient
from .tiktok.emulator import create_emulator

log = structlog.get_logger(__name__)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    store_ready = await runtime.store.ping()
    delivery_ready = runtime.is_delivery_running()
    ready = store_ready and delivery_ready
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "store": store_ready, "delivery": delivery_ready},
        status_code=200 if ready else 503,
    )


async def stats(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    admin_token = runtime.settings.admin_token
    if admin_token is not None and not is_bearer(request, admin_token.get_secret_value()):
        return JSONResponse({"error": "unauthorized", "message": "send the admin token as a Bearer token"}, 401)
    return JSONResponse(await collect_stats(runtime.store, runtime.settings, runtime.clock()))


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def create_app(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format, settings.secrets())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Runtime]]:
        tables, problems = check_mappings(settings)
        for problem in problems:
            log.warning(
                "config.problem", level=problem.level, file=problem.file, key=problem.key, reason=problem.reason
            )
        if any(problem.level == "error" for problem in problems):
            raise ConfigError("; ".join(str(p) for p in problems if p.level == "error"))
        store = make_store(settings.store)
        await store.open()
        runtime = Runtime(settings, store, Routing(settings, tables), KeyRing(settings.sources), clock)
        stopping = False
        try:
            async with httpx.AsyncClient(timeout=settings.delivery.timeout_s, transport=transport) as http:
                delivery = Delivery(
                    store=store,
                    client=EventsApiClient(http, settings.tiktok.base_url),
                    destinations=settings.destinations,
                    policy=settings.delivery,
                    owner=_owner_id(),
                    partner_name=settings.tiktok.partner_name,
                    clock=clock,
                )
                if settings.delivery.enabled:
                    runtime.delivery_task = asyncio.create_task(
                        run_worker(
                            delivery,
                            runtime.wakeups,
                            should_stop=lambda: stopping,
                            dedup_window_s=settings.store.dedup_window_h * 3600,
                            retention_s=settings.store.retention_delivered_h * 3600,
                        ),
                        name="delivery",
                    )
                log.info(
                    "service.started",
                    destinations=sorted(settings.destinations),
                    sources=sorted(settings.sources),
                    store=settings.store.url.split("://")[0],
                )
                yield {"runtime": runtime}
                stopping = True
                await _stop_worker(runtime, settings.delivery.shutdown_grace_s + settings.delivery.timeout_s)
        finally:
            await store.close()
            log.info("service.stopped")

    routes: list[BaseRoute] = [
        Route("/v1/events", post_events, methods=["POST"]),
        Route("/v1/stats", stats, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if settings.emulator.enabled:
        routes.append(Mount(settings.emulator.path, app=create_emulator()))
    return Starlette(routes=routes, lifespan=lifespan)


async def _stop_worker(runtime: Runtime, grace_s: float) -> None:
    """Let the current delivery pass finish within `grace_s`; past that, cancel it (its rows go back to pending)."""
    task = runtime.delivery_task
    if task is None:
        return
    runtime.wake_delivery()
    try:
        await asyncio.wait_for(asyncio.shield(task), grace_s)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""The composition root: `create_app()` builds the ASGI app from settings; the lifespan owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from .audiences.gauges import AudienceGauges
from .audiences.signals import AudienceRules
from .audiences.sync import AudienceSync
from .delivery.destination import Destination
from .delivery.loop import DeliveryWorker
from .delivery.passes import Delivery
from .destination_kinds import Shared, build_destinations
from .emulators import create_emulators
from .errors import ConfigError, StoreUnavailable
from .http.admin import require_admin
from .http.audiences import audience_performance, forget_user, list_audiences, show_audience
from .http.connect import connect_callback, connect_tiktok, connection_state, disconnect
from .http.dead_letters import list_dead, replay_dead
from .http.events import EventsEndpoint
from .http.openapi import openapi
from .http.postbacks import post_postback
from .http.pressure import assess, watch_pressure
from .http.reload import admin_reload
from .http.report import report
from .http.service import event_ledger, healthz, metrics, readyz, stats, store_unavailable
from .http.status_page import status_page
from .keys import KeyRing
from .logs import configure_logging, scrubber
from .mapping.check import check_mappings
from .mapping.planning import Routing
from .marketing.connection import Connection
from .reload.apply import install_sighup, watch_config
from .reload.peers import peers_in
from .reporting.puller import ReportPuller
from .runtime import Runtime, Snapshot
from .settings import Settings, config_file_in_use, load_settings
from .store import make_store
from .tiktok.builder import TikTokPayloads
from .tiktok.event_names import check_event_name
from .tiktok.shared_emulator import EmulatorProxy
from .worker_env import WorkerEnvironment

log = structlog.get_logger(__name__)
GC_THRESHOLDS = (50_000, 50, 100)  # young, middle, old generation: see where it is set


def admin_only(request: Request) -> Response | None:
    """The embedded emulator's control routes can script failures and read events: admin credential only."""
    return require_admin(request, request.state.runtime)


async def listen_for_events(runtime: Runtime, stop: asyncio.Event) -> None:
    """Wake delivery when any replica stores events (PostgreSQL NOTIFY); re-listen if the connection drops."""
    listen = getattr(runtime.store, "listen", None)
    if listen is None:
        return  # SQLite: one process, ingest wakes its own delivery loops
    while not stop.is_set():
        if not runtime.store.is_listening() and await listen(  # type: ignore[attr-defined]
            lambda destination: runtime.wake_delivery({destination})
        ):
            log.info("store.listening")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _emulator_app(shared: Path | None) -> ASGIApp:
    """Several workers share the one emulator `forwarder serve` runs; a single process serves its own."""
    return EmulatorProxy(shared, authorize=admin_only) if shared else create_emulators(authorize=admin_only)


def create_app(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    config_file: Path | None = None,
) -> ASGIApp:
    """The service. `config_file` is what reloads re-read (default: $FORWARDER_CONFIG when settings come from it)."""
    if settings is None:
        settings = load_settings()
        config_file = config_file_in_use(config_file)
    configure_logging(settings.log_level, settings.log_format, settings.secrets(), with_pid=settings.server.workers > 1)

    environment = WorkerEnvironment.read()
    emulator = _emulator_app(environment.emulator_socket) if settings.emulator.enabled else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Runtime]]:
        tables, problems = check_mappings(settings, check_event_name=check_event_name)
        for problem in problems:
            log.warning(
                "config.problem", level=problem.level, file=problem.file, key=problem.key, reason=problem.reason
            )
        if any(problem.level == "error" for problem in problems):
            raise ConfigError("; ".join(str(p) for p in problems if p.level == "error"))
        store = make_store(settings.store, writer_socket=environment.writer_socket)
        await store.open()
        stop_watching = asyncio.Event()
        try:
            async with (
                httpx.AsyncClient(timeout=settings.delivery.timeout_s, transport=transport) as http,
                httpx.AsyncClient(timeout=settings.marketing.timeout_s, transport=transport) as marketing_http,
            ):
                shared = Shared(http, scrubber.scrub)

                def destinations_for(settings: Settings) -> Mapping[str, Destination]:
                    return build_destinations(settings, shared)

                snapshot = Snapshot(
                    settings,
                    Routing(settings, tables, TikTokPayloads()),
                    KeyRing(settings.sources),
                    destinations_for(settings),
                    loaded_at=time.time(),
                    audience_rules=AudienceRules(settings.audiences),
                )
                runtime = Runtime(snapshot, store, clock, config_file=config_file, destinations_for=destinations_for)
                runtime.reload_peers = peers_in(environment.reload_dir)
                runtime.marketing = Connection(
                    settings,
                    store,
                    marketing_http,
                    clock,
                    scrubber.scrub,
                    remember_secrets=scrubber.extend,
                    on_state=runtime.metrics.set_marketing_state,
                )
                marketing_probe = asyncio.create_task(runtime.marketing.watch(stop_watching))
                # Idle until a Marketing API credential exists; replicas and workers take turns by a store lease.
                runtime.reports = ReportPuller(runtime.marketing, lambda: runtime.settings, _owner_id(), clock)
                reports = asyncio.create_task(runtime.reports.run(stop_watching))
                delivery = Delivery(
                    store=store,
                    destinations=snapshot.destinations,
                    policy=settings.delivery,
                    owner=_owner_id(),
                    clock=clock,
                    metrics=runtime.metrics,
                )
                if settings.delivery.enabled:
                    runtime.worker = DeliveryWorker(delivery, runtime.wakeups, settings.store)
                    runtime.worker.start()
                watcher = asyncio.create_task(watch_config(runtime, stop_watching)) if settings.watch_config else None
                audience_sync = AudienceSync(
                    store,
                    lambda: runtime.settings,
                    runtime.marketing.client,
                    runtime.marketing.token,
                    _owner_id(),
                    clock,
                )
                runtime.audience_sync = audience_sync
                runtime.audience_gauges = AudienceGauges(runtime.metrics.registry)
                syncing = asyncio.create_task(audience_sync.run(stop_watching))
                runtime.overloaded = await assess(runtime)
                pressure = asyncio.create_task(watch_pressure(runtime, stop_watching))
                listener = asyncio.create_task(listen_for_events(runtime, stop_watching))
                peers = runtime.reload_peers
                follower = asyncio.create_task(peers.follow(runtime, stop_watching)) if peers else None
                log.info(
                    "service.started",
                    destinations=sorted(settings.destinations),
                    sources=sorted(settings.sources),
                    store=settings.store.url.split("://")[0],
                    mappings=runtime.config_status()["mappings"],
                    sighup_reload=install_sighup(runtime),
                )
                # Everything built so far (modules, schemas, settings) lives as long as the process: move it out of
                # the collector's sight, so full collections under load walk only request garbage. Measured on
                # bench/ingest.py: p99 72 -> 35 ms and about 10% more requests/s.
                gc.freeze()
                # Requests in flight keep their parsed events across the await for the writer, so under load the
                # young generation fills at the default 700 and every collection walks them all. Measured on
                # bench/ingest.py (20-event batches, delivery off): worker CPU 122.6 -> 113.3 us per event.
                gc.set_threshold(*GC_THRESHOLDS)
                yield {"runtime": runtime}
                stop_watching.set()
                reports.cancel()  # a pull cut short stores nothing of its unfinished window
                with contextlib.suppress(asyncio.CancelledError):
                    await reports
                await pressure
                await listener
                await syncing
                marketing_probe.cancel()  # a probe waiting on TikTok must not hold the shutdown
                with contextlib.suppress(asyncio.CancelledError):
                    await marketing_probe
                if follower is not None:
                    await follower
                if watcher is not None:
                    await watcher
                if runtime.worker is not None:
                    current = runtime.settings.delivery
                    await runtime.worker.stop(current.shutdown_grace_s + current.timeout_s)
        finally:
            await store.close()
            if isinstance(emulator, EmulatorProxy):
                await emulator.aclose()
            log.info("service.stopped")

    routes: list[BaseRoute] = [
        Route("/", status_page, methods=["GET"]),
        Route("/v1/postbacks/{source}", post_postback, methods=["GET", "POST"]),
        Route("/v1/stats", stats, methods=["GET"]),
        Route("/v1/report", report, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/v1/admin/reload", admin_reload, methods=["POST"]),
        Route("/v1/admin/dead", list_dead, methods=["GET"]),
        Route("/v1/admin/dead/replay", replay_dead, methods=["POST"]),
        Route("/v1/events/{event_id:path}", event_ledger, methods=["GET"]),
        Route("/v1/audiences", list_audiences, methods=["GET"]),
        Route("/v1/audiences/{name}", show_audience, methods=["GET"]),
        Route("/v1/audiences/{name}/performance", audience_performance, methods=["GET"]),
        Route("/v1/users/forget", forget_user, methods=["POST"]),
        Route("/connect/tiktok", connect_tiktok, methods=["GET"]),
        Route("/connect/tiktok/callback", connect_callback, methods=["GET"]),
        Route("/v1/marketing/connection", connection_state, methods=["GET"]),
        Route("/v1/marketing/disconnect", disconnect, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if emulator is not None:
        routes.append(Mount(settings.emulator.path, app=emulator))
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={StoreUnavailable: store_unavailable})
    return EventsEndpoint(app)

"""Backpressure: watch the backlog, the store's size and free disk; say why ingest should refuse, or None."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

import structlog

from ..runtime import Runtime

log = structlog.get_logger(__name__)
CHECK_EVERY_S = 1.0


async def assess(runtime: Runtime) -> str | None:
    """Why the store cannot take more now, or None."""
    limits = runtime.settings.store
    backlog = await runtime.store.backlog()
    if backlog >= limits.max_pending_events:
        return f"{backlog} events are waiting for delivery (max_pending_events {limits.max_pending_events})"
    size = await runtime.store.size_bytes()
    if limits.max_store_bytes and size >= limits.max_store_bytes:
        return f"the store holds {size} bytes (max_store_bytes {limits.max_store_bytes})"
    if limits.url.startswith("sqlite:///"):
        free = shutil.disk_usage(limits.sqlite_path.parent).free
        if free < limits.min_free_disk_bytes:
            return f"{free} bytes free on the store's disk (min_free_disk_bytes {limits.min_free_disk_bytes})"
    return None


async def watch_pressure(runtime: Runtime, stop: asyncio.Event) -> None:
    """Keep `runtime.overloaded` current; log when it starts and ends."""
    while not stop.is_set():
        try:
            reason = await assess(runtime)
        except Exception:
            log.exception("backpressure.check_failed")
            reason = runtime.overloaded
        if reason and not runtime.overloaded:
            log.error("backpressure.on", reason=reason)
        elif runtime.overloaded and not reason:
            log.info("backpressure.off")
        runtime.overloaded = reason
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECK_EVERY_S)

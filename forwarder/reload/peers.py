"""With `server.workers` > 1, a reload asked of one worker (`POST /v1/admin/reload`) reaches every worker.

The worker that answered, once its own reload is applied, drops a request file into a directory private to this
service run (run_workers creates it, mode 0700, and names it in $FORWARDER_RELOAD_DIR). Every worker polls that
directory, reloads with the request's force flag and writes its outcome beside the request; the answering worker
collects the outcomes for its answer. A file rather than a signal: uvicorn's supervisor owns SIGHUP (it restarts
every worker), and a file still reaches a worker that was busy when it was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import structlog

from ..runtime import Runtime
from .apply import reload_config

log = structlog.get_logger(__name__)
POLL_S = 0.1


class ReloadPeers:
    """This worker's view of the shared directory: which requests it has handled already."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # Requests older than this worker are not for it: it read the files when it started.
        self.handled = self._requests()

    def _requests(self) -> set[str]:
        return {path.name.removesuffix(".request") for path in self.directory.glob("*.request")}

    def announce(self, force: bool) -> str:
        """Ask every other worker to reload; returns the request id."""
        request_id = f"{time.time_ns()}-{os.getpid()}"
        self.handled.add(request_id)
        staging = self.directory / f".{request_id}.tmp"
        staging.write_text(json.dumps({"force": force, "pid": os.getpid()}))
        staging.rename(self.directory / f"{request_id}.request")  # atomic: a peer never reads half a request
        return request_id

    async def collect(self, request_id: str, expected: int, timeout_s: float) -> list[dict[str, Any]]:
        """The outcomes peers wrote for `request_id`: all `expected` of them, or those in by `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            paths = sorted(self.directory.glob(f"{request_id}.*.outcome"))
            if len(paths) >= expected or time.monotonic() > deadline:
                return [json.loads(path.read_text()) for path in paths]
            await asyncio.sleep(POLL_S)

    async def follow(self, runtime: Runtime, stop: asyncio.Event) -> None:
        """Reload whenever another worker announces a reload, and report how it went."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
            new = sorted(self._requests() - self.handled)
            if not new:
                continue
            self.handled.update(new)
            force = any(self._force(request_id) for request_id in new)
            try:
                outcome = await reload_config(runtime, "peer_reload", force=force)
                for request_id in new:
                    self._report(request_id, outcome)
            except Exception:  # keep following: the next reload may well work
                log.exception("config.peer_reload_failed", requests=new)

    def _force(self, request_id: str) -> bool:
        with contextlib.suppress(OSError, ValueError):
            return json.loads((self.directory / f"{request_id}.request").read_text())["force"] is True
        return False

    def _report(self, request_id: str, outcome: dict[str, Any]) -> None:
        summary = {"pid": os.getpid(), **worker_summary(outcome)}
        staging = self.directory / f".{request_id}.{os.getpid()}.tmp"
        staging.write_text(json.dumps(summary))
        staging.rename(self.directory / f"{request_id}.{os.getpid()}.outcome")


def worker_summary(outcome: dict[str, Any]) -> dict[str, Any]:
    """What the answer says about one worker's reload."""
    keys = ("ok", "refused", "dropped", "problems", "mappings")
    return {key: outcome[key] for key in keys if key in outcome}


def peers_in(directory: Path | None) -> ReloadPeers | None:
    """The other workers' reload channel, when `forwarder serve` runs several (`worker_env.RELOAD_DIR`)."""
    return ReloadPeers(directory) if directory else None

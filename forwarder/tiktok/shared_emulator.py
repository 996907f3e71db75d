"""One in-process emulator for every worker (`server.workers` > 1 with `emulator.enabled`).

Each worker used to mount an emulator of its own, so the events delivered were split between them and
`/_emulator/_control/*` answered from whichever worker took the connection. Now `forwarder serve` runs a single
emulator in a thread, on a Unix socket in a private (0700) directory, and every worker mounts a proxy to it at
`emulator.path`: `tiktok.base_url = "http://HOST:PORT/_emulator"` keeps working through any worker.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .emulator import Authorize

# Set by `forwarder serve` for its workers when they share one emulator.
# Hop-by-hop and length headers: the proxy's own connection sets them.
_NOT_FORWARDED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length"})


@contextlib.contextmanager
def shared_emulator(emulator: ASGIApp) -> Iterator[Path]:
    """Serve `emulator` on a private Unix socket while the block runs; the socket's path."""
    with tempfile.TemporaryDirectory(prefix="forwarder-emulator-") as directory:
        socket_path = Path(directory) / "emulator.sock"
        config = uvicorn.Config(emulator, uds=str(socket_path), lifespan="off", log_config=None, access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="shared-emulator", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the shared emulator did not start")
            time.sleep(0.01)
        try:
            yield socket_path
        finally:
            server.should_exit = True
            thread.join(timeout=10)


class EmulatorProxy:
    """An ASGI app that forwards every request under its mount to the shared emulator."""

    def __init__(self, socket_path: Path, *, authorize: Authorize | None = None) -> None:
        self._authorize = authorize  # the control routes' guard, checked here: the shared emulator has none
        # No timeout of its own: the caller's (delivery's timeout_s) decides, as it would against TikTok.
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket_path)), base_url="http://emulator", timeout=None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path, root = scope["path"], scope.get("root_path", "")
        path = (path[len(root) :] if root and path.startswith(root) else path) or "/"
        if self._authorize is not None and path.startswith("/_control") and (refused := self._authorize(request)):
            await refused(scope, receive, send)
            return
        upstream = await self._http.request(
            request.method,
            path,
            params=request.url.query,
            headers=[(k, v) for k, v in request.headers.items() if k not in _NOT_FORWARDED],
            content=await request.body(),
        )
        headers = {k: v for k, v in upstream.headers.items() if k not in _NOT_FORWARDED}
        await Response(upstream.content, status_code=upstream.status_code, headers=headers)(scope, receive, send)

    async def aclose(self) -> None:
        await self._http.aclose()

"""`POST /v1/admin/reload` (`forwarder reload`): reload this worker, then every other one, and say how it went.

Body (optional): `{"force": true}` applies a reload that would stop mapping event names in use. Answers 200 when
every worker applied it, 409 when one refused because of names in use (listed under `dropped`), 422 when the files
are invalid, 504 when a worker did not confirm in time.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..reload.apply import reload_config
from ..reload.peers import worker_summary
from ..runtime import Runtime
from .admin import require_admin

_MAX_BODY_BYTES = 1024


async def admin_reload(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    force = await _force_flag(request)
    if isinstance(force, Response):
        return force
    outcome = await reload_config(runtime, "admin_api", force=force)
    if outcome["ok"] and runtime.reload_peers is not None:
        expected = runtime.settings.server.workers - 1
        request_id = runtime.reload_peers.announce(force)
        peers = await runtime.reload_peers.collect(request_id, expected, runtime.settings.reload_settle_s * 4 + 10)
        workers = [{"pid": os.getpid(), **worker_summary(outcome)}, *peers]
        outcome = {**outcome, "ok": all(w["ok"] for w in workers) and len(peers) >= expected, "workers": workers}
        if len(peers) < expected:
            outcome["message"] = f"{expected - len(peers)} worker(s) did not confirm the reload in time"
    return JSONResponse(outcome, status_code=_status(outcome))


def _status(outcome: dict[str, Any]) -> int:
    reports = outcome.get("workers", [outcome])
    refusals = {report.get("refused") for report in reports if not report["ok"]}
    if not outcome["ok"] and not refusals:
        return 504  # every worker that answered applied it; some did not answer
    if "invalid" in refusals:
        return 422
    return 409 if refusals else 200


async def _force_flag(request: Request) -> bool | Response:
    """`force` from an optional JSON object body; a 400 naming the field when it is not a boolean."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY_BYTES:
            return _bad("body_too_large", f"the body exceeds {_MAX_BODY_BYTES} bytes", "(body)", 413)
    if not body.strip():
        return False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _bad("invalid_json", 'the body must be JSON: {"force": true} or {"force": false}', "(body)")
    if not isinstance(document, dict) or set(document) - {"force"}:
        return _bad("invalid_body", 'the body takes one key: {"force": true|false}', "(body)")
    force = document.get("force", False)
    if not isinstance(force, bool):
        return _bad("invalid_field", "`force` must be true or false", "force")
    return force


def _bad(error: str, message: str, field: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "message": message, "field": field}, status_code=status)

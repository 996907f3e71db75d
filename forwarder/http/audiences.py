"""Audiences over the admin API: `GET /v1/audiences`, `GET /v1/audiences/{name}`, its `/performance` (JSON or CSV),
and `POST /v1/users/forget`."""

from __future__ import annotations

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..audiences.identify import hashed_identifiers
from ..audiences.performance import as_csv, performance
from ..audiences.report import audience_documents
from ..errors import PayloadError
from ..runtime import Runtime
from .admin import require_admin

log = structlog.get_logger(__name__)
MAX_BODY = 16_384


async def list_audiences(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    documents = await audience_documents(runtime.store, runtime.settings)
    return JSONResponse({"audiences": list(documents.values())})


def _unknown(runtime: Runtime, name: str) -> Response | None:
    if name in runtime.settings.audiences:
        return None
    known = ", ".join(sorted(runtime.settings.audiences)) or "none"
    message = f"no audience {name[:100]!r} is configured (configured: {known})"
    return JSONResponse({"error": "not_found", "field": "name", "message": message}, status_code=404)


async def show_audience(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    name = request.path_params["name"]
    if unknown := _unknown(runtime, name):
        return unknown
    documents = await audience_documents(runtime.store, runtime.settings)
    return JSONResponse(documents[name])


async def audience_performance(request: Request) -> Response:
    """Conversions of the audience's goal, lift against its control group, trends and the funnel; `?format=csv`."""
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    name = request.path_params["name"]
    if unknown := _unknown(runtime, name):
        return unknown
    wanted = request.query_params.get("format", "json")
    if wanted not in ("json", "csv"):
        message = "must be json or csv"
        return JSONResponse({"error": "invalid_parameter", "field": "format", "message": message}, status_code=400)
    document = await performance(runtime.store, runtime.settings, name, runtime.clock())
    if wanted == "csv":
        return PlainTextResponse(as_csv(document), media_type="text/csv")
    return JSONResponse(document)


async def forget_user(request: Request) -> Response:
    """Body: `{"email": "...", "phone": "...", "idfa": "...", "gaid": "...", "external_id": "..."}` (any of them).

    The user leaves every audience at TikTok (the deletes go out with the next sync) and what we hold is erased."""
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    body = await request.body()
    try:
        if len(body) > MAX_BODY:
            raise PayloadError("body", f"is larger than {MAX_BODY:,} bytes")
        values = orjson.loads(body) if body.strip() else {}
        if not isinstance(values, dict):
            raise PayloadError("body", "must be a JSON object naming the user's identifiers")
        pairs = hashed_identifiers(values, runtime.settings.tiktok.default_phone_region)
    except orjson.JSONDecodeError as error:
        return JSONResponse({"error": "invalid_json", "field": "body", "message": str(error)}, status_code=400)
    except PayloadError as error:
        return JSONResponse({"error": "invalid_user", "field": error.field, "message": error.message}, 422)
    members = await runtime.store.audiences.members_of(pairs)
    found = await runtime.store.audiences.forget(pairs, runtime.clock())
    at_tiktok = sorted({m["audience"] for m in members if m["synced"] == "in"})
    log.info("audiences.user_forgotten", users=found, audiences_at_tiktok=len(at_tiktok))
    if runtime.audience_sync is not None:
        runtime.audience_sync.wake.set()
    return JSONResponse({"users_found": found, "removing_from_audiences": at_tiktok})

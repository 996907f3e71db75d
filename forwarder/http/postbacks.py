"""`GET|POST /v1/postbacks/{source}`: authenticate the platform, convert its payload, then the `/v1/events` path."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import BadRequest, PostbackError
from ..events import parse_json_object
from ..keys import Caller
from ..postbacks import Converted, adapters
from ..runtime import Runtime
from ..settings import SourceSettings
from ..shape import shape_problem
from .auth import is_address_allowed, signature_problem
from .events import accept_events
from .requests import admit, read_body, refusal

log = structlog.get_logger(__name__)


def _presented_key(request: Request, source: SourceSettings) -> str | None:
    """Bearer token, a bare Authorization value (AppsFlyer, RevenueCat), a configured header, or `?key=`."""
    if source.key_header and request.headers.get(source.key_header):
        return request.headers[source.key_header].strip()
    authorization = request.headers.get("authorization", "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" else authorization
    return request.query_params.get("key")


def _caller(request: Request, runtime: Runtime, source: SourceSettings) -> Caller | None:
    """Whose key this is, whichever source it belongs to: `admit` refuses another source's key by name."""
    key = _presented_key(request, source)
    return runtime.keyring.caller_for_key(key) if key else None


async def _payload(request: Request, runtime: Runtime) -> dict[str, Any]:
    """Query parameters (GET callbacks) and, for POST, the JSON object body on top."""
    payload: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "key"}
    if request.method == "POST":
        server = runtime.settings.server
        body = await read_body(request, server.max_body_bytes, server.body_timeout_s)
        if body.strip():
            payload.update(parse_json_object(body, "the body must be a JSON object"))
        request.state.raw_body = body
    return payload


def _policy_skip(converted: Converted, source: SourceSettings) -> str | None:
    if source.attributed_only and converted.attributed is False:
        return "not attributed (this source is attributed_only)"
    window = source.postback_window_days
    event = converted.event or {}
    if window and converted.install_time is not None and isinstance(event.get("timestamp"), int | float):
        timestamp = float(event["timestamp"])
        seconds = timestamp / 1000 if timestamp > 1e11 else timestamp
        if seconds - converted.install_time > window * 86400:
            return f"more than {window:g} days after install (postback_window_days)"
    return None


async def post_postback(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    name = request.path_params["source"]
    source = runtime.settings.sources.get(name)
    if source is None or source.kind == "sdk":
        return JSONResponse({"error": "unknown_source", "message": f"no postback source {name!r}"}, 404)
    client = request.client.host if request.client else None
    if not is_address_allowed(client, source):  # before any key: a wrong address learns nothing more
        log.warning("postback.ip_refused", source=name, client=client)
        return JSONResponse({"error": "forbidden", "message": "this address may not post for this source"}, 403)
    caller = _caller(request, runtime, source)
    if refused := await admit(request, runtime, caller, f"/v1/postbacks/{name}"):
        return refused
    try:
        payload = await _payload(request, runtime)
        raw_body = getattr(request.state, "raw_body", b"")
        problem = signature_problem(source, request.headers, request.scope["query_string"], raw_body, runtime.clock())
        if problem:
            raise BadRequest(401, "invalid_signature", problem.message, field=problem.field)
        # Before any adapter walks it: the parser reads 1,024 levels, Python's recursion stops near 1,000.
        if shape := shape_problem(payload):
            raise PostbackError(shape["field"], shape["message"])
        converted = adapters()[source.kind](payload, source)
    except BadRequest as error:
        return refusal(error)
    except PostbackError as error:
        log.info("postback.invalid", source=name, platform=source.kind, field=error.field, reason=error.message)
        return JSONResponse(
            {"error": "invalid_postback", "field": error.field, "message": error.message}, status_code=422
        )
    skipped = converted.skipped or _policy_skip(converted, source)
    if skipped or converted.event is None:
        log.info("postback.skipped", source=name, platform=source.kind, reason=skipped)
        return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": [], "skipped": skipped}, status_code=200)
    return await accept_events(runtime, name, [converted.event], False, extra={"platform": source.kind})

"""What every ingest endpoint does before it looks at an event: admit the caller, read the body, parse JSON."""

from __future__ import annotations

import asyncio
import math

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ..errors import BadRequest, StoreUnavailable
from ..keys import Caller
from ..runtime import Runtime
from ..settings import SourceSettings
from .auth import door, is_address_allowed

log = structlog.get_logger(__name__)


def refusal(error: BadRequest) -> JSONResponse:
    """The 4xx answer to a request refused before any event in it was read."""
    return JSONResponse(error.body(), status_code=error.status)


def field_refusal(error: ValueError, code: str) -> JSONResponse:
    """The 400 for a query parameter refused with a ValueError worded `field: message` (the parsers' convention)."""
    field, _, message = str(error).partition(": ")
    return refusal(BadRequest(400, code, message, field=field))


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refusing with 413 as soon as it is known to exceed `limit` bytes (never reading it all), and
    with 408 when it has not all arrived within `timeout_s` (a client trickling it in holds a connection)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "invalid_content_length", "Content-Length must be a number of bytes")
        if int(declared) > limit:
            raise BadRequest(413, "body_too_large", f"the body exceeds {limit} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BadRequest(413, "body_too_large", f"the body exceeds {limit} bytes")
                chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest(400, "incomplete_body", "the client disconnected before sending the whole body") from None
    except TimeoutError:
        raise BadRequest(408, "body_timeout", f"the body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)


async def key_wait_s(runtime: Runtime, caller: Caller, source: SourceSettings) -> float:
    """0 when the key may send this request now, else how long it should wait; the store keeps the buckets, so
    every worker and replica draws from the same one."""
    if source.rate_limit_per_s is None:
        return 0.0
    burst = source.rate_limit_burst or source.rate_limit_per_s
    return await runtime.store.take_key_token(caller.key_id, source.rate_limit_per_s, burst, runtime.clock())


async def admit(request: Request, runtime: Runtime, caller: Caller | None, endpoint: str) -> Response | None:
    """The checks every ingest endpoint makes before reading a body: key, the key's door (`endpoint` is this
    request's) and its source's addresses, the key's rate, backpressure."""
    client = request.client.host if request.client else None
    if caller is None:
        log.info("ingest.unauthorized", client=client)
        return JSONResponse(
            {"error": "unauthorized", "message": "send a valid ingest key as `Authorization: Bearer <key>`"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    source_settings = runtime.settings.sources[caller.source]
    if not is_address_allowed(client, source_settings):
        log.warning("ingest.address_refused", source=caller.source, key_id=caller.key_id, client=client)
        return JSONResponse({"error": "forbidden", "message": "this address may not post for this source"}, 403)
    own_door = door(caller.source, source_settings)
    if own_door != endpoint:
        # A platform's key must not reach /v1/events (or another platform's URL): its source's checks and
        # adapter would be bypassed. Naming the key's own endpoint tells a misconfigured sender the fix.
        log.warning("ingest.wrong_endpoint", source=caller.source, key_id=caller.key_id, endpoint=endpoint)
        return JSONResponse(
            {"error": "wrong_endpoint", "message": f"this key is for {own_door} only", "endpoint": own_door},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        # Only a rate-limited source asks the store (a round trip when several processes share its buckets).
        wait_s = await key_wait_s(runtime, caller, source_settings) if source_settings.rate_limit_per_s else 0.0
    except StoreUnavailable as error:
        log.error("ingest.store_unavailable", source=caller.source, error=str(error))
        return JSONResponse(
            {"error": "store_unavailable", "message": "events cannot be stored now; retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    if wait_s > 0:
        log.warning("ingest.rate_limited", source=caller.source, key_id=caller.key_id)
        return JSONResponse(
            {"error": "rate_limited", "message": f"this key may send {source_settings.rate_limit_per_s:g} requests/s"},
            status_code=429,
            headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
        )
    if runtime.overloaded:
        log.warning("ingest.refused_overloaded", source=caller.source, reason=runtime.overloaded)
        return JSONResponse(
            {"error": "overloaded", "message": f"not accepting events now: {runtime.overloaded}; retry later"},
            status_code=503,
            headers={"Retry-After": "30"},
        )
    return None

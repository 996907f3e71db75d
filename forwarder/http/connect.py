"""Connect TikTok over HTTP, and the connection's state.

  GET  /connect/tiktok            (admin) to TikTok's consent page, with a single-use state
  GET  /connect/tiktok/callback   TikTok sends the browser back here with auth_code and state; no admin token
                                  (TikTok's redirect carries none): the state this service handed out is the proof
  GET  /v1/marketing/connection   (admin) the latest probe's finding; `?check=true` probes now
  POST /v1/marketing/disconnect   (admin) revoke the connected token at TikTok and forget it

Tokens never appear in an answer: only the state, advertisers, scopes and dates.
"""

from __future__ import annotations

from html import escape

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..marketing.authorisation import begin, exchange, missing_settings, revoke, take_state
from ..marketing.client import MarketingError
from ..marketing.connection import Connection
from ..runtime import Runtime
from .admin import require_admin

log = structlog.get_logger(__name__)
CONNECTED_NOTICE = "connected"  # `/?tiktok=connected`: the status page says the flow succeeded
_MOST_CHARACTERS = 4096  # an auth code or a state longer than this did not come from TikTok or from us
_START_AGAIN = "start again with Connect TikTok on the status page"


def _refusal(request: Request, status: int, error: str, message: str, **extra: object) -> Response:
    """JSON, or a small page for a browser (the callback is where a person lands)."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": error, "message": message, **extra}, status)
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connect TikTok</title></head><body>'
        f'<h1>TikTok is not connected</h1><p id="error" data-error="{escape(error)}">{escape(message)}</p>'
        '<p><a href="/">Back to the status page</a></p></body></html>',
        status,
    )


def _not_configured(request: Request, connection: Connection) -> Response | None:
    missing = missing_settings(connection.settings)
    if not missing:
        return None
    message = (
        f"Connect TikTok needs {', '.join(missing)}: your TikTok developer app's id and secret, and the address "
        "TikTok sends you back to (README: Connect TikTok)"
    )
    return _refusal(request, 403, "connect_not_configured", message, missing=missing)


def _connection(request: Request) -> tuple[Runtime, Connection]:
    runtime: Runtime = request.state.runtime
    if runtime.marketing is None:
        raise RuntimeError("the Marketing API connection is built by the app's lifespan")
    return runtime, runtime.marketing


async def connect_tiktok(request: Request) -> Response:
    runtime, connection = _connection(request)
    if denied := require_admin(request, runtime):
        return denied
    if refused := _not_configured(request, connection):
        return refused
    return RedirectResponse(await begin(connection), status_code=303)


async def connect_callback(request: Request) -> Response:
    _, connection = _connection(request)
    if refused := _not_configured(request, connection):
        return refused
    state, code = request.query_params.get("state", ""), request.query_params.get("auth_code", "")
    if len(state) > _MOST_CHARACTERS or len(code) > _MOST_CHARACTERS:
        return _refusal(request, 400, "invalid_parameter", f"auth_code or state is too long: {_START_AGAIN}")
    # A state comes back once: taken even when the code is missing (consent refused), so it cannot serve again.
    if not state or not await take_state(connection, state):
        log.warning("marketing.connect_refused", reason="state")
        message = (
            f"this link was used already, is older than 10 minutes, or was not made by this service: {_START_AGAIN}"
        )
        return _refusal(request, 400, "invalid_state", message)
    if not code:
        log.warning("marketing.connect_refused", reason="no_auth_code")
        return _refusal(
            request, 400, "missing_auth_code", f"TikTok sent no auth_code (was access refused?): {_START_AGAIN}"
        )
    try:
        credential = await exchange(connection, code)
    except MarketingError as error:
        log.warning(
            "marketing.connect_refused", reason=error.problem.name, tiktok_code=error.code, request_id=error.request_id
        )
        if error.problem.retry:
            return _refusal(
                request, 502, "tiktok_unreachable", f"TikTok did not answer ({error.message}): {_START_AGAIN}"
            )
        message = (
            f"TikTok refused the authorisation code ({error.message}); a code is good once, for an hour: {_START_AGAIN}"
        )
        return _refusal(request, 400, "auth_code_refused", message, tiktok_code=error.code, request_id=error.request_id)
    await connection.connect(credential)
    return RedirectResponse(f"/?tiktok={CONNECTED_NOTICE}", status_code=303)


async def connection_state(request: Request) -> Response:
    runtime, connection = _connection(request)
    if denied := require_admin(request, runtime):
        return denied
    probe_now = request.query_params.get("check", "").lower() in ("1", "true")
    health = await (connection.check() if probe_now else connection.current())
    return JSONResponse(health.document())


async def disconnect(request: Request) -> Response:
    """Revoke the connected token at TikTok, then forget it (also when TikTok cannot be reached: the answer says
    so, and the token can be removed in TikTok's developer portal)."""
    runtime, connection = _connection(request)
    if denied := require_admin(request, runtime):
        return denied
    credential = await connection.credential()
    if credential is None:
        configured = (
            " (marketing.access_token is configuration: remove it there)" if connection.settings.access_token else ""
        )
        return JSONResponse(
            {"error": "not_connected", "message": f"nothing was connected with Connect TikTok{configured}"}, 409
        )
    revoked, problem = False, None
    if not missing_settings(connection.settings):
        try:
            await revoke(connection, credential.access_token)
            revoked = True
        except MarketingError as error:
            problem = error.describe()
            revoked = error.problem.name == "invalid_connection"  # revoked or refused already: it is dead anyway
    await connection.forget()
    health = await connection.check()
    answer = {"disconnected": True, "revoked_at_tiktok": revoked, "revoke_problem": problem}
    return JSONResponse({**answer, "connection": health.document()})

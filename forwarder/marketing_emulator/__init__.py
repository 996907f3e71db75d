"""A local stand-in for the TikTok Marketing API routes the audience sync and the report puller call.

As strict as TikTok documents and no stricter (sources: shared/reference/tiktok-audiences-and-reporting.md,
"the digest"); where TikTok's behaviour is unknown it accepts and records a warning in `/_control/state`.
Answers use TikTok's envelope (`code`, `message`, `request_id`, `data`; HTTP 200 for business errors).

  GET  /portal/auth                               consent page: "Authorize" -> redirect_uri?auth_code=&state=
  POST /open_api/v1.3/oauth2/access_token/        {app_id, secret, auth_code} -> access_token, advertiser_ids, scope
  GET  /open_api/v1.3/oauth2/advertiser/get/      ?app_id&secret: advertisers the token reaches
  POST /open_api/v1.3/oauth2/revoke_token/        {app_id, secret, access_token}
  POST /open_api/v1.3/segment/audience/           create (name truncated to 67 + "...") or delete an audience
  POST /open_api/v1.3/segment/mapping/            add/delete hashed ids aligned to id_schema, <= 10,000 users
  GET  /open_api/v1.3/dmp/custom_audience/get/    sizes (0 below 1,000), history; list/ pages through them
  GET  /open_api/v1.3/report/integrated/get/      BASIC reports, advertiser or campaign level, by day
  GET  /open_api/v1.3/advertiser/info/            currency and time zone

  GET  /_control/state                            audiences, tokens, settings, answers, requests, warnings
  GET  /_control/audiences/{id}                   the audience's members: one sorted list of "TYPE:hash" per user
  POST /_control/script                           every key optional:
        {"responses": [{"code": 40100, "path": "/open_api/v1.3/report/integrated/get/"}, {"status": 503}],
         "ready_after_s": 60, "size_threshold": 1000, "max_audiences": 400, "mapping_qps": 50,
         "rate_limit_per_s": 0, "budgets": {"<token>": 100},          shared by every route: then 40100
         "tokens": {"<token>": {"advertiser_ids": [...], "scopes": ["audience", "reporting", "ad_account"]}},
         "token_ttl_s": 0, "expire_tokens": [...],   OAuth tokens expire after that long (40102)
         "revoke_tokens": [...], "drop_scopes": {"<token>": ["audience"]}, "drop_advertisers": {"<token>": [...]},
         "delete_audiences": [...], "restate": [{"advertiser_id": "...", "day": "2026-11-28", "factor": 1.2}],
         "apps": {"<app_id>": "<secret>"}, "advertisers": [{"advertiser_id", "name", "currency", "timezone"}]}
  POST /_control/reset                            back to a fresh emulator

The `/_control/*` routes answer only what `authorize` lets through (as the Events API emulator's do). Out of the
box: app `7000000000000000001` / `emulator-secret`, token `emulator-token` on both emulated advertisers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import audiences, control, oauth, reports, segments
from .common import BASE, Refused, answer
from .state import MarketingState

__all__ = ["Authorize", "MarketingState", "create_marketing_emulator"]

Handler = Callable[[MarketingState, Request], Awaitable[Response]]
# Answers a control request with its refusal, or None to let it through (as the Events API emulator's does).
Authorize = Callable[[Request], Response | None]


def _scripted(state: MarketingState, path: str) -> Response | None:
    for spec in state.script:
        if spec.get("path", path) == path:
            state.script.remove(spec)
            status = int(spec.get("status", 200))
            if "code" not in spec and status != 200:
                return Response(spec.get("body", "upstream error"), status_code=status)
            return answer(int(spec.get("code", 0)), str(spec.get("message", "scripted")), spec.get("data"), status)
    return None


def create_marketing_emulator(state: MarketingState | None = None, *, authorize: Authorize | None = None) -> Starlette:
    state = state or MarketingState()

    def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = _scripted(state, request.url.path) if request.url.path.startswith(BASE) else None
            if response is None:
                try:
                    response = await handler(state, request)
                except Refused as refused:
                    response = answer(refused.code, refused.message, status=refused.status)
            given = f"http_{response.status_code}"
            if isinstance(response, JSONResponse):
                given = str(json.loads(bytes(response.body)).get("code", given))
            state.answers[given] += 1
            state.requests.append({"at": state.clock(), "path": request.url.path, "answer": given})
            return response

        return endpoint

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            refused = authorize(request) if authorize is not None else None
            return refused if refused is not None else await handler(state, request)

        return endpoint

    routes = [
        Route(path, api(handler), methods=[method])
        for path, handler, method in (*oauth.ROUTES, *segments.ROUTES, *audiences.ROUTES, *reports.ROUTES)
    ]
    routes += [Route(path, guarded(handler), methods=[method]) for path, handler, method in control.ROUTES]
    app = Starlette(routes=routes)
    app.state.marketing_emulator = state
    return app

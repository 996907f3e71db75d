"""Advertiser authorisation: TikTok's consent page, the auth-code exchange, the advertiser list, revocation.

Digest §6: `/portal/auth?app_id&state&redirect_uri` redirects with `auth_code` (valid 1 h, usable once);
`POST /oauth2/access_token/` {app_id, secret, auth_code} -> access_token, advertiser_ids, scope; advertiser tokens
are long-term (no refresh token) and end when revoked (`token_ttl_s` makes them expire: 40102);
`GET /oauth2/advertiser/get/?app_id&secret`; `POST /oauth2/revoke_token/`.
"""

from __future__ import annotations

import html
import secrets
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .common import BASE, Refused, authenticate, json_body, ok, required_str
from .state import SCOPES, MarketingState, Token

AUTH_PAGE = "/portal/auth"
AUTH_CODE_TTL_S = 3600


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>",
        status_code=status,
    )


def _checked_redirect(state: MarketingState, request: Request) -> tuple[str, str, str] | HTMLResponse:
    app_id = request.query_params.get("app_id", "")
    redirect_uri = request.query_params.get("redirect_uri", "")
    if app_id not in state.apps:
        return _page("Unknown app", f"<p>No developer app {html.escape(app_id)}.</p>", 400)
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return _page("Invalid redirect_uri", "<p>redirect_uri must be an http(s) URL.</p>", 400)
    # TikTok checks the redirect URL against the app's registered one; we hold none, so we accept any.
    state.warn(AUTH_PAGE, "redirect_uri is not checked against a registered URL (the emulator holds none)")
    return app_id, redirect_uri, request.query_params.get("state", "")


async def authorisation_page(state: MarketingState, request: Request) -> Response:
    checked = _checked_redirect(state, request)
    if isinstance(checked, HTMLResponse):
        return checked
    app_id, redirect_uri, opaque = checked
    advertisers = "".join(f"<li>{html.escape(a.name)} ({a.advertiser_id})</li>" for a in state.advertisers.values())
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in (("app_id", app_id), ("redirect_uri", redirect_uri), ("state", opaque))
    )
    return _page(
        "Authorize",
        f"<p>App {html.escape(app_id)} asks to manage these ad accounts:</p><ul>{advertisers}</ul>"
        # Relative: the page is also served under a mount (`/_emulator/marketing/portal/auth`).
        f'<form method="get" action="auth/confirm">{hidden}'
        '<button type="submit" id="authorize">Authorize</button></form>',
    )


async def confirm(state: MarketingState, request: Request) -> Response:
    checked = _checked_redirect(state, request)
    if isinstance(checked, HTMLResponse):
        return checked
    app_id, redirect_uri, opaque = checked
    query = urlencode({"auth_code": state.issue_auth_code(app_id), "state": opaque})
    return RedirectResponse(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}", status_code=302)


def _app(state: MarketingState, source: dict[str, object]) -> str:
    app_id, secret = source.get("app_id"), source.get("secret")
    if not isinstance(app_id, str) or not isinstance(secret, str) or state.apps.get(app_id) != secret:
        raise Refused(40101, "The app_id or secret is not valid.")
    return app_id


async def access_token(state: MarketingState, request: Request) -> Response:
    body = await json_body(request)
    app_id = _app(state, body)
    code = state.auth_codes.get(required_str(body, "auth_code"))
    if code is None or code["used"] or code["app_id"] != app_id:
        raise Refused(40110, "The auth_code is not valid or has been used.")
    code["used"] = True
    if state.clock() - code["issued_at"] > AUTH_CODE_TTL_S:
        raise Refused(40110, "The auth_code has expired.")
    token = "act." + secrets.token_hex(20)
    expires_at = state.clock() + state.token_ttl_s if state.token_ttl_s else None
    state.tokens[token] = Token(set(state.advertisers), app_id=app_id, expires_at=expires_at)
    granted: dict[str, object] = {
        "access_token": token,
        "advertiser_ids": sorted(state.advertisers),
        "scope": sorted(SCOPES.values()),
    }
    if state.token_ttl_s:
        # bububa's token struct carries expires_in; TikTok documents no refresh for advertiser tokens: re-authorise.
        granted["expires_in"] = int(state.token_ttl_s)
    return ok(granted)


async def advertiser_get(state: MarketingState, request: Request) -> Response:
    app_id = _app(state, dict(request.query_params))
    token = authenticate(state, request, [], None)  # the app secret is the check; no scope is documented
    if token.app_id and token.app_id != app_id:
        raise Refused(40001, "The access token was not issued to this app.")
    listed = [
        {"advertiser_id": a, "advertiser_name": state.advertisers[a].name}
        for a in sorted(token.advertiser_ids)
        if a in state.advertisers
    ]
    return ok({"list": listed})


async def revoke_token(state: MarketingState, request: Request) -> Response:
    body = await json_body(request)
    app_id = _app(state, body)
    token = state.tokens.get(required_str(body, "access_token"))
    if token is None or (token.app_id and token.app_id != app_id):
        raise Refused(40105, "Access token is incorrect or has been revoked.")
    token.revoked = True
    return ok({})


ROUTES = [
    (AUTH_PAGE, authorisation_page, "GET"),
    (AUTH_PAGE + "/confirm", confirm, "GET"),
    (BASE + "/oauth2/access_token/", access_token, "POST"),
    (BASE + "/oauth2/advertiser/get/", advertiser_get, "GET"),
    (BASE + "/oauth2/revoke_token/", revoke_token, "POST"),
]

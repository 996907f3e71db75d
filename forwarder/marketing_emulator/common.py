"""TikTok's envelope and the checks every Marketing API route makes: token, advertiser access, scope, rate."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .state import MarketingState, Token

BASE = "/open_api/v1.3"


class Refused(Exception):
    """A business error: TikTok answers it with HTTP 200 (unless `status` says otherwise) and this code."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def answer(code: int, message: str, data: Any = None, status: int = 200) -> JSONResponse:
    body = {"code": code, "message": message, "request_id": request_id(), "data": {} if data is None else data}
    return JSONResponse(body, status_code=status)


def ok(data: Any) -> JSONResponse:
    return answer(0, "OK", data)


def authenticate(state: MarketingState, request: Request, advertiser_ids: list[str], scope: str | None) -> Token:
    """The request's token if it may act for every advertiser named with `scope`, else Refused (digest §6, §7)."""
    presented = request.headers.get("access-token", "")
    if not presented:
        raise Refused(40104, "Access token is empty.")
    token = state.tokens.get(presented)
    if token is None or token.revoked:
        raise Refused(40105, "Access token is incorrect or has been revoked.")
    if token.expires_at is not None and state.clock() >= token.expires_at:
        raise Refused(40102, "Access token has expired.")
    if presented in state.budgets:
        if state.budgets[presented] <= 0:
            raise Refused(40100, "Too many requests. The request quota of this access token is used up.")
        state.budgets[presented] -= 1
    if state.is_over("all", presented, state.rate_limit_per_s):
        raise Refused(40100, "App reaches the QPS limit.")
    if scope is not None and scope not in token.scopes:
        raise Refused(40001, f"No permission to operate: the token lacks the {scope} permission scope.")
    for advertiser_id in advertiser_ids:
        if advertiser_id not in token.advertiser_ids or advertiser_id not in state.advertisers:
            raise Refused(40001, f"No permission to operate advertiser {advertiser_id}.")
    return token


async def json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refused(40002, "Content-Type must be application/json.")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Refused(40002, "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Refused(40002, "Request body must be a JSON object.")
    return body


def required_str(source: Any, name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(40002, f"{name}: Missing data for required field.")
    return value


def json_param(request: Request, name: str, default: Any = None) -> Any:
    """A query parameter TikTok takes as JSON text (`advertiser_ids`, `dimensions`, `metrics`, `filtering`)."""
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise Refused(40002, f"{name}: Missing data for required field.")
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise Refused(40002, f"{name}: Not a valid JSON value.") from None


def string_list(value: Any, name: str, *, most: int | None = None) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise Refused(40002, f"{name}: must be a non-empty list of strings.")
    if most is not None and len(value) > most:
        raise Refused(40002, f"{name}: at most {most} items.")
    return value

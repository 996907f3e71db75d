"""A local stand-in for TikTok's Events API: validates `/open_api/v1.3/event/track/` and records what it took.

It answers in TikTok's envelope (`code`, `message`, `request_id`, HTTP 200 for business errors), deduplicates
on (event_source_id, event, event_id) as TikTok does, and can be told to misbehave for tests and demos:

  GET    /_control/events     events accepted so far (and `?event_id=` to filter)
  DELETE /_control/events     forget them
  POST   /_control/script     {"responses": [{"status": 503}, {"code": 40100, "retry_after": 2}, ...],
                               "latency_ms": 0, "revoked_tokens": ["..."]}  next answers, in order
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .catalog import load_catalog
from .client import TRACK_PATH

_HASHED = re.compile(r"[0-9a-f]{64}")
_HASHED_USER_FIELDS = ("email", "phone", "external_id")
MAX_EVENTS = 1000


class Invalid(Exception):
    pass


@dataclass
class EmulatorState:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    script: deque[dict[str, Any]] = field(default_factory=deque)
    latency_ms: float = 0.0
    revoked_tokens: set[str] = field(default_factory=set)
    requests: int = 0
    duplicates: int = 0


def _request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def _answer(code: int, message: str, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"code": code, "message": message, "request_id": _request_id(), "data": {}}
    return JSONResponse(body, status_code=status, headers=headers)


def validate_body(body: Any) -> list[dict[str, Any]]:
    """The events of a valid request body, or Invalid with TikTok's style of 40002 message."""
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object.")
    source = body.get("event_source")
    if source not in ("web", "app", "offline", "crm"):
        raise Invalid("Invalid value for event_source: must be one of web, app, offline, crm.")
    if not isinstance(body.get("event_source_id"), str) or not body["event_source_id"]:
        raise Invalid("Invalid value for event_source_id: not a valid string.")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise Invalid("Invalid value for data: must be a non-empty list.")
    if len(data) > MAX_EVENTS:
        raise Invalid(f"Invalid value for data: at most {MAX_EVENTS} events per request.")
    catalog = load_catalog()
    for index, event in enumerate(data):
        _validate_event(f"data.{index}", event, source, catalog.standard.get(source, frozenset()))
    return data


def _validate_event(where: str, event: Any, source: str, standard: frozenset[str]) -> None:
    if not isinstance(event, dict):
        raise Invalid(f"{where}: Not a valid object.")
    if not isinstance(event.get("event"), str) or not event["event"]:
        raise Invalid(f"{where}.event: Not a valid string.")
    if not isinstance(event.get("event_time"), int) or isinstance(event["event_time"], bool):
        raise Invalid(f"{where}.event_time: Not a valid integer.")
    if event["event_time"] > 10**11:
        raise Invalid(f"{where}.event_time: must be a Unix timestamp in seconds.")
    if "event_id" in event and not isinstance(event["event_id"], str):
        raise Invalid(f"{where}.event_id: Not a valid string.")
    user = event.get("user", {})
    if not isinstance(user, dict):
        raise Invalid(f"{where}.user: Not a valid object.")
    for key in _HASHED_USER_FIELDS:
        values = user.get(key, [])
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str) or not _HASHED.fullmatch(value):
                raise Invalid(f"{where}.user.{key}: must be a SHA-256 lowercase hex digest.")
    properties = event.get("properties", {})
    for i, content in enumerate(properties.get("contents", []) if isinstance(properties, dict) else []):
        if "content_id" in content and not isinstance(content["content_id"], str):
            raise Invalid(f"{where}.properties.contents.{i}.content_id: Not a valid string")
    if source == "app" and not (isinstance(event.get("app"), dict) and event["app"].get("app_id")):
        raise Invalid(f"{where}.app.app_id: Missing data for required field.")
    if source == "web" and not (isinstance(event.get("page"), dict) and event["page"].get("url")):
        raise Invalid(f"{where}.page.url: Missing data for required field.")
    if event["event"] not in standard and event["event"][:1].isupper() and _looks_like_wrong_standard(event["event"]):
        raise Invalid(f"{where}.event: {event['event']} is not a standard event for event_source {source}.")


def _looks_like_wrong_standard(name: str) -> bool:
    """A standard name of the other event source (e.g. `Registration` on web) is an error, not a custom event."""
    catalog = load_catalog()
    return any(name in names for names in catalog.standard.values())


def create_emulator(state: EmulatorState | None = None) -> Starlette:
    state = state or EmulatorState()

    async def track(request: Request) -> Response:
        state.requests += 1
        token = request.headers.get("access-token", "")
        if state.latency_ms:
            await asyncio.sleep(state.latency_ms / 1000)
        if state.script:
            scripted = state.script.popleft()
            status = int(scripted.get("status", 200))
            headers = {"Retry-After": str(scripted["retry_after"])} if "retry_after" in scripted else None
            if "code" in scripted or status == 200:
                return _answer(int(scripted.get("code", 0)), scripted.get("message", "scripted"), status, headers)
            return Response(scripted.get("body", "upstream error"), status_code=status, headers=headers)
        if not token:
            return _answer(40105, "Access token is incorrect or has been revoked.")
        if token in state.revoked_tokens:
            return _answer(40105, "Access token is incorrect or has been revoked.")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _answer(40002, "Content-Type must be application/json.")
        try:
            body = json.loads(await request.body())
            data = validate_body(body)
        except (ValueError, Invalid) as error:
            return _answer(40002, str(error) if isinstance(error, Invalid) else "Request body is not valid JSON.")
        request_id = _request_id()
        for event in data:
            key = (body["event_source_id"], event["event"], event.get("event_id") or "")
            if event.get("event_id") and key in state.seen:
                state.duplicates += 1
                continue
            state.seen.add(key)
            state.accepted.append(
                {
                    "event_source": body["event_source"],
                    "event_source_id": body["event_source_id"],
                    "test_event_code": body.get("test_event_code"),
                    "request_id": request_id,
                    **event,
                }
            )
        return JSONResponse({"code": 0, "message": "OK", "request_id": request_id, "data": {}})

    async def list_events(request: Request) -> Response:
        event_id = request.query_params.get("event_id")
        events = [e for e in state.accepted if event_id is None or e.get("event_id") == event_id]
        return JSONResponse(
            {"count": len(events), "requests": state.requests, "duplicates": state.duplicates, "events": events}
        )

    async def reset_events(request: Request) -> Response:
        state.accepted.clear()
        state.seen.clear()
        state.requests = state.duplicates = 0
        return Response(status_code=204)

    async def script(request: Request) -> Response:
        spec = await request.json()
        state.script.extend(spec.get("responses", []))
        state.latency_ms = float(spec.get("latency_ms", state.latency_ms))
        state.revoked_tokens = set(spec.get("revoked_tokens", state.revoked_tokens))
        return JSONResponse({"queued": len(state.script)})

    app = Starlette(
        routes=[
            Route(TRACK_PATH, track, methods=["POST"]),
            Route("/_control/events", list_events, methods=["GET"]),
            Route("/_control/events", reset_events, methods=["DELETE"]),
            Route("/_control/script", script, methods=["POST"]),
        ]
    )
    app.state.emulator = state
    return app

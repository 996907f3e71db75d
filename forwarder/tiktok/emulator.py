"""A local stand-in for TikTok's Events API: validates `/open_api/v1.3/event/track/` and records what it took.

It is as strict as TikTok's documentation and no stricter: where the docs state a rule it answers 40002; where
TikTok's behaviour is unknown it accepts the event and records a warning in `/_control/events`.
It answers in TikTok's envelope (`code`, `message`, `request_id`, HTTP 200 for business errors), deduplicates
on (event_source_id, event, event_id) as TikTok does, and can be told to misbehave for tests and demos:

  GET    /_control/events     events accepted so far (`?event_id=` filters), request and answer counts,
                              `warnings` [{event_id, field, message}] for what TikTok's behaviour is unknown on
                              (`?log=1` adds when each answer was given)
  DELETE /_control/events     forget them
  POST   /_control/script     change behaviour; every key optional:
                              {"responses": [{"status": 503}, {"code": 40100, "retry_after": 2},
                                             {"hang_s": 30, "status": 503}, ...],  next answers, in order
                               "latency_ms": 200,                   added to every answer
                               "revoked_tokens": ["..."],           answered 40105
                               "failure_ratio": 0.5, "failure": {"code": 40100},   that share of requests fails
                               "rate_limit_per_s": 20,              more requests per second per token: 40100
                               "reject_event_ids": ["..."],         a request carrying one gets 40002 naming it
                               "partial_event_ids": ["..."],        20001: these refused, the others accepted
                               "token_answers": {"<token>": {"code": 40063}}}   every request with that token
                              a scripted answer can be any TikTok code, with `message` and `data`
  POST   /_control/reset      back to a well-behaved, empty emulator

The `/_control/*` routes answer only what `authorize` lets through: inside the service, the admin credential;
`forwarder emulate --control-token` asks for `Authorization: Bearer <token>`; without either they are open.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
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
_WEB_ONLY, _APP_ONLY = frozenset({"ttclid", "ttp"}), frozenset({"idfa", "idfv", "gaid", "att_status"})
_FIELDS_OF_THE_OTHER_SOURCE = {"web": _APP_ONLY, "app": _WEB_ONLY, "offline": _APP_ONLY, "crm": _APP_ONLY}
_ATT_STATUSES = frozenset({"AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"})
MAX_EVENTS = 1000

# Answers a control request with its refusal, or None to let it through.
Authorize = Callable[[Request], Response | None]


class Invalid(Exception):
    pass


@dataclass
class EmulatorState:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    script: deque[dict[str, Any]] = field(default_factory=deque)
    latency_ms: float = 0.0
    revoked_tokens: set[str] = field(default_factory=set)
    failure_ratio: float = 0.0
    failure: dict[str, Any] = field(default_factory=lambda: {"code": 40100, "message": "Too many requests."})
    rate_limit_per_s: float = 0.0
    reject_event_ids: set[str] = field(default_factory=set)
    partial_event_ids: set[str] = field(default_factory=set)
    token_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)  # token -> (second, requests in it)
    requests: int = 0
    duplicates: int = 0
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))  # when, what was answered
    answers: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random)

    def is_over_rate_limit(self, token: str) -> bool:
        if not self.rate_limit_per_s:
            return False
        second = int(time.monotonic())
        window, count = self.windows.get(token, (second, 0))
        count = count + 1 if window == second else 1
        self.windows[token] = (second, count)
        return count > self.rate_limit_per_s


def _request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def _answer(
    code: int, message: str, status: int = 200, headers: dict[str, str] | None = None, data: Any = None
) -> JSONResponse:
    body = {"code": code, "message": message, "request_id": _request_id(), "data": {} if data is None else data}
    return JSONResponse(body, status_code=status, headers=headers)


Warn = Callable[[str, str], None]  # (field, message) for one event


def validate_body(body: Any, warnings: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The events of a valid request body, or Invalid with TikTok's style of 40002 message; what TikTok's
    behaviour is unknown on is accepted and appended to `warnings` as {event_id, field, message}."""
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

        def warn(path: str, message: str, event: Any = event) -> None:
            if warnings is not None:
                event_id = event.get("event_id") if isinstance(event, dict) else None
                warnings.append({"event_id": event_id, "field": path, "message": message})

        _validate_event(f"data.{index}", event, source, catalog.standard.get(source, frozenset()), warn)
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_event(where: str, event: Any, source: str, standard: frozenset[str], warn: Warn) -> None:
    if not isinstance(event, dict):
        raise Invalid(f"{where}: Not a valid object.")
    if not isinstance(event.get("event"), str) or not event["event"]:
        raise Invalid(f"{where}.event: Not a valid string.")
    if not _is_int(event.get("event_time")):
        raise Invalid(f"{where}.event_time: Not a valid integer.")
    if event["event_time"] > 10**11:
        raise Invalid(f"{where}.event_time: must be a Unix timestamp in seconds.")
    if "event_id" in event and not isinstance(event["event_id"], str):
        raise Invalid(f"Invalid value for event_id: not a valid string. ({where}.event_id)")
    if "limited_data_use" in event and not isinstance(event["limited_data_use"], bool):
        raise Invalid(f"{where}.limited_data_use: Not a valid boolean.")
    _validate_user(f"{where}.user", event.get("user", {}), warn)
    user = event.get("user", {})
    for key in sorted(set(user) & _FIELDS_OF_THE_OTHER_SOURCE.get(source, frozenset())):
        # TikTok's reference says which source a field is valid for, not what it does with it elsewhere.
        warn(f"user.{key}", f"documented for another event source than {source}: TikTok may ignore it")
    _validate_properties(f"{where}.properties", event.get("properties", {}))
    if source == "app" and not (isinstance(event.get("app"), dict) and isinstance(event["app"].get("app_id"), str)):
        raise Invalid(f"{where}.app.app_id: Missing data for required field.")
    if source == "web" and not (isinstance(event.get("page"), dict) and event["page"].get("url")):
        # TikTok's reference lists page for web events; whether the API refuses an event without it is unknown.
        warn("page.url", "missing on a web event: TikTok may not attribute it (whether it refuses it is unknown)")
    if source in ("offline", "crm"):
        _validate_offline_or_crm(where, event, source)
    elif event["event"] not in standard and _looks_like_wrong_standard(event["event"]):
        # Sent as a custom event or refused? TikTok does not say; the name is almost certainly a mistake.
        warn("event", f"{event['event']} is a standard event of another event source, not of {source}")


def _validate_offline_or_crm(where: str, event: dict[str, Any], source: str) -> None:
    """TikTok's reference: offline events take standard names only; crm events carry `lead.lead_id`."""
    if source == "offline":
        # The reference also says offline standard events are the web ones, so a web name is taken.
        catalog = load_catalog()
        if not (catalog.is_standard("offline", event["event"]) or catalog.is_standard("web", event["event"])):
            raise Invalid(
                f"{where}.event: {event['event']} is not a standard event; offline takes standard events only."
            )
        return
    lead = event.get("lead")
    if not isinstance(lead, dict):
        raise Invalid(f"{where}.lead: Missing data for required field.")
    if not lead.get("lead_id"):
        raise Invalid(f"{where}.lead.lead_id: Missing data for required field.")
    if not isinstance(lead["lead_id"], str):
        raise Invalid(f"{where}.lead.lead_id: Not a valid string.")
    if "lead_event_source" in lead and not isinstance(lead["lead_event_source"], str):
        raise Invalid(f"{where}.lead.lead_event_source: Not a valid string.")


def _validate_user(where: str, user: Any, warn: Warn) -> None:
    if not isinstance(user, dict):
        raise Invalid(f"{where}: Not a valid object.")
    for key in _HASHED_USER_FIELDS:
        values = user.get(key, [])
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and _HASHED.fullmatch(value.lower()) and value != value.lower():
                # TikTok asks for SHA-256; the case of the hex digits is not documented (every peer sends lower).
                warn(f"user.{key}", "upper-case hex digest: TikTok documents SHA-256, not the case; send lower-case")
            elif not isinstance(value, str) or not _HASHED.fullmatch(value):
                raise Invalid(f"{where}.{key}: must be a SHA-256 hex digest.")
    for key in ("ip", "user_agent", "locale", "idfa", "idfv", "gaid", "ttclid", "ttp"):
        if key in user and not isinstance(user[key], str):
            raise Invalid(f"{where}.{key}: Not a valid string.")
    if "att_status" in user and user["att_status"] not in _ATT_STATUSES:
        raise Invalid(f"{where}.att_status: must be one of {', '.join(sorted(_ATT_STATUSES))}.")


def _validate_properties(where: str, properties: Any) -> None:
    if not isinstance(properties, dict):
        raise Invalid(f"{where}: Not a valid object.")
    if "value" in properties and not _is_number(properties["value"]):
        raise Invalid(f"{where}.value: Not a valid number.")
    if "currency" in properties and properties["currency"] not in load_catalog().currencies:
        raise Invalid(f"{where}.currency: Invalid currency code.")
    for key in ("order_id", "shop_id", "content_type", "search_string", "query", "description"):
        if key in properties and not isinstance(properties[key], str):
            raise Invalid(f"{where}.{key}: Not a valid string.")
    if properties.get("content_type", "product") not in ("product", "product_group"):
        raise Invalid(f"{where}.content_type: must be one of product, product_group.")
    if "num_items" in properties and not _is_int(properties["num_items"]):
        raise Invalid(f"{where}.num_items: Not a valid integer.")
    if "content_ids" in properties and not (
        isinstance(properties["content_ids"], list) and all(isinstance(v, str) for v in properties["content_ids"])
    ):
        raise Invalid(f"{where}.content_ids: Not a valid list of strings.")
    contents = properties.get("contents", [])
    if not isinstance(contents, list):
        raise Invalid(f"{where}.contents: Not a valid list.")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise Invalid(f"{where}.contents.{i}: Not a valid object.")
        if "content_id" in content and not isinstance(content["content_id"], str):
            raise Invalid(f"{where}.contents.{i}.content_id: Not a valid string")
        if "price" in content and not _is_number(content["price"]):
            raise Invalid(f"{where}.contents.{i}.price: Not a valid number.")
        if "quantity" in content and not _is_int(content["quantity"]):
            raise Invalid(f"{where}.contents.{i}.quantity: Not a valid integer.")


def _looks_like_wrong_standard(name: str) -> bool:
    """A standard name of the other event source (e.g. `Registration` on web) is an error, not a custom event."""
    catalog = load_catalog()
    return any(name in names for names in catalog.standard.values())


def configure(state: EmulatorState, spec: dict[str, Any]) -> None:
    """Apply a `/_control/script` document (or the `forwarder emulate` options) to the emulator."""
    if not isinstance(spec, dict):
        raise ValueError("the script must be a JSON object")
    state.script.extend(dict(response) for response in spec.get("responses", []))
    state.latency_ms = float(spec.get("latency_ms", state.latency_ms))
    state.revoked_tokens = set(spec.get("revoked_tokens", state.revoked_tokens))
    state.failure_ratio = float(spec.get("failure_ratio", state.failure_ratio))
    state.failure = dict(spec.get("failure", state.failure))
    state.rate_limit_per_s = float(spec.get("rate_limit_per_s", state.rate_limit_per_s))
    state.reject_event_ids = set(spec.get("reject_event_ids", state.reject_event_ids))
    state.partial_event_ids = set(spec.get("partial_event_ids", state.partial_event_ids))
    state.token_answers = {k: dict(v) for k, v in dict(spec.get("token_answers", state.token_answers)).items()}


def control_token_required(token: str) -> Authorize:
    """An `authorize` for a standalone emulator: control requests must carry `Authorization: Bearer <token>`."""
    expected = hashlib.sha256(token.encode()).digest()

    def authorize(request: Request) -> Response | None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        digest = hashlib.sha256(presented.strip().encode()).digest()
        if scheme.lower() == "bearer" and hmac.compare_digest(digest, expected):
            return None
        return JSONResponse(
            {"error": "unauthorized", "message": "send the control token as `Authorization: Bearer <token>`"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    return authorize


def create_emulator(state: EmulatorState | None = None, *, authorize: Authorize | None = None) -> Starlette:
    state = state or EmulatorState()

    def control(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            refused = authorize(request) if authorize is not None else None
            return refused if refused is not None else await endpoint(request)

        return guarded

    async def scripted(spec: dict[str, Any]) -> Response:
        if "hang_s" in spec:  # a TikTok that accepts the connection and does not answer in time
            await asyncio.sleep(float(spec["hang_s"]))
        status = int(spec.get("status", 200))
        headers = {"Retry-After": str(spec["retry_after"])} if "retry_after" in spec else None
        if "code" in spec or status == 200:
            message = str(spec.get("message", "scripted"))
            return _answer(int(spec.get("code", 0)), message, status, headers, spec.get("data"))
        return Response(spec.get("body", "upstream error"), status_code=status, headers=headers)

    async def answer(request: Request) -> Response:
        token = request.headers.get("access-token", "")
        if state.latency_ms:
            await asyncio.sleep(state.latency_ms / 1000)
        if state.script:
            return await scripted(state.script.popleft())
        if state.failure_ratio and state.rng.random() < state.failure_ratio:
            return await scripted(state.failure)
        if token in state.token_answers:
            return await scripted(state.token_answers[token])
        if not token or token in state.revoked_tokens:
            return _answer(40105, "Access token is incorrect or has been revoked.")
        if state.is_over_rate_limit(token):
            return _answer(40100, "App reaches the QPS limit.")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _answer(40002, "Content-Type must be application/json.")
        try:
            body = json.loads(await request.body())
            warnings: list[dict[str, Any]] = []
            data = validate_body(body, warnings)
        except (ValueError, Invalid) as error:
            return _answer(40002, str(error) if isinstance(error, Invalid) else "Request body is not valid JSON.")
        for index, event in enumerate(data):
            if event.get("event_id") in state.reject_event_ids:
                return _answer(40002, f"data.{index}.properties: rejected by the emulator's reject_event_ids.")
        state.warnings.extend(warnings)
        request_id = _request_id()
        refused = [i for i, event in enumerate(data) if event.get("event_id") in state.partial_event_ids]
        for index, event in enumerate(data):
            if index in refused:
                continue
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
        if refused:
            failed = [
                {"index": i, "code": 40002, "message": f"data.{i}: refused by partial_event_ids."} for i in refused
            ]
            body = {"code": 20001, "message": "Partial success.", "request_id": request_id}
            return JSONResponse({**body, "data": {"failed_events": failed}})
        return JSONResponse({"code": 0, "message": "OK", "request_id": request_id, "data": {}})

    async def track(request: Request) -> Response:
        state.requests += 1
        response = await answer(request)
        code = json.loads(bytes(response.body)).get("code") if isinstance(response, JSONResponse) else None
        given = str(code) if code is not None else f"http_{response.status_code}"
        state.answers[given] += 1
        state.log.append({"at": time.time(), "answer": given})
        return response

    async def list_events(request: Request) -> Response:
        event_id = request.query_params.get("event_id")
        events = [e for e in state.accepted if event_id is None or e.get("event_id") == event_id]
        return JSONResponse(
            {
                "count": len(events),
                "requests": state.requests,
                "duplicates": state.duplicates,
                "answers": dict(state.answers),
                "warnings": [w for w in state.warnings if event_id is None or w["event_id"] == event_id],
                "log": list(state.log) if request.query_params.get("log") else None,
                "events": events,
            }
        )

    async def reset_events(request: Request) -> Response:
        state.accepted.clear()
        state.warnings.clear()
        state.seen.clear()
        state.answers.clear()
        state.requests = state.duplicates = 0
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        fresh = EmulatorState()
        for name in state.__dataclass_fields__:
            setattr(state, name, getattr(fresh, name))
        return Response(status_code=204)

    async def script(request: Request) -> Response:
        try:
            spec = await request.json()
            configure(state, spec)
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": "invalid_script", "message": str(error)}, status_code=400)
        return JSONResponse({"queued": len(state.script)})

    app = Starlette(
        routes=[
            Route(TRACK_PATH, track, methods=["POST"]),
            Route("/_control/events", control(list_events), methods=["GET"]),
            Route("/_control/events", control(reset_events), methods=["DELETE"]),
            Route("/_control/script", control(script), methods=["POST"]),
            Route("/_control/reset", control(reset), methods=["POST"]),
        ]
    )
    app.state.emulator = state
    return app

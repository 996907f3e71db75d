"""A local stand-in for TikTok's Events API: validates `/open_api/v1.3/event/track/` and records what it took.

It is as strict as TikTok's documentation and no stricter (`emulator_rules.py`): where the docs state a rule it
answers 40002; where TikTok's behaviour is unknown it accepts the event and records a warning in `/_control/events`.
It answers in TikTok's envelope (`code`, `message`, `request_id`, HTTP 200 for business errors), deduplicates
on (event_source_id, event, event_id) as TikTok does, and can be told to misbehave for tests and demos:

  GET    /_control/events     the last 100,000 events accepted (`?event_id=` filters; `total` counts them all),
                              request and answer counts, `warnings` [{event_id, field, message}] for what
                              TikTok's behaviour is unknown on (`?log=1` adds when each answer was given)
  DELETE /_control/events     forget them
  POST   /_control/script     change behaviour; every key optional:
                              {"responses": [{"status": 503}, {"code": 40100, "retry_after": 2},
                                             {"hang_s": 30, "status": 503}, ...],  next answers, in order
                               "latency_ms": 200,                   each answer waits that long after its request
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
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .client import TRACK_PATH
from .emulator_rules import Invalid, validate_body

# Answers a control request with its refusal, or None to let it through.
Authorize = Callable[[Request], Response | None]


# An emulator left running (`forwarder serve` embeds one with the example config) keeps a bounded memory: the
# latest accepted events (and as many warnings) are listed, older ones only counted, and dedup keys are forgotten
# after TikTok's 48 h window or past a cap.
ACCEPTED_KEPT = 100_000
DEDUP_WINDOW_S = 48 * 3600
DEDUP_KEYS_KEPT = 2_000_000


@dataclass
class DedupWindow:
    """The (event_source_id, event, event_id) keys TikTok would still deduplicate on, oldest first."""

    keys: set[int] = field(default_factory=set)  # hashes: a 64-bit collision is far less likely than a bug here
    order: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, key: tuple[str, str, str], now: float) -> bool:
        """Remember `key` as seen at `now` (monotonic seconds); False if it was seen within the window."""
        while self.order and self.order[0][0] < now - DEDUP_WINDOW_S:
            self.keys.discard(self.order.popleft()[1])
        hashed = hash(key)
        if hashed in self.keys:
            return False
        self.keys.add(hashed)
        self.order.append((now, hashed))
        if len(self.order) > DEDUP_KEYS_KEPT:
            self.keys.discard(self.order.popleft()[1])
        return True

    def clear(self) -> None:
        self.keys.clear()
        self.order.clear()


@dataclass
class EmulatorState:
    accepted: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ACCEPTED_KEPT))
    accepted_total: int = 0
    seen: DedupWindow = field(default_factory=DedupWindow)
    script: deque[dict[str, Any]] = field(default_factory=deque)
    latency_ms: float = 0.0
    revoked_tokens: set[str] = field(default_factory=set)
    failure_ratio: float = 0.0
    failure: dict[str, Any] = field(default_factory=lambda: {"code": 40100, "message": "Too many requests."})
    rate_limit_per_s: float = 0.0
    reject_event_ids: set[str] = field(default_factory=set)
    partial_event_ids: set[str] = field(default_factory=set)
    token_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ACCEPTED_KEPT))
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
        # TikTok's latency is what its client waits from sending to the answer, TikTok's own work included: the
        # emulator's reading of a 1,000-event batch (25-50 ms of CPU on a busy box) is part of it, not added to it.
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        response = await respond(request)
        if state.latency_ms and (remaining := state.latency_ms / 1000 - (loop.time() - arrived)) > 0:
            await asyncio.sleep(remaining)
        return response

    async def respond(request: Request) -> Response:
        token = request.headers.get("access-token", "")
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
            body = orjson.loads(await request.body())
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
            if event.get("event_id") and not state.seen.add(key, time.monotonic()):
                state.duplicates += 1
                continue
            state.accepted_total += 1
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
        code = orjson.loads(bytes(response.body)).get("code") if isinstance(response, JSONResponse) else None
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
                "total": state.accepted_total,
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
        state.requests = state.duplicates = state.accepted_total = 0
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

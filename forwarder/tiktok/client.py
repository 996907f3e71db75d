"""Send one batch to `POST /open_api/v1.3/event/track/` and classify TikTok's answer.

Delivered means HTTP 2xx *and* `code` 0 in the body: TikTok reports most errors as HTTP 200 with a non-zero
code, and peers that only look at the HTTP status lose those events silently.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import (
    AuthError,
    DeliveryError,
    Outcome,
    PermanentError,
    RateLimited,
    RetryableError,
    SettingRefused,
    UnknownCodeError,
)
from .codes import classify_code

__all__ = ["AuthError", "EventsApiClient", "UnknownCodeError", "classify", "is_rate_limited", "track_body"]

TRACK_PATH = "/open_api/v1.3/event/track/"
REDACTED = "[redacted]"

# Where a partial answer might name its refused events: TikTok documents no shape for /event/track/, so we read
# the shapes its other batch APIs use, and `data.N.` / `Batch.N.` paths in the message.
_REFUSED_LISTS = ("failed_events", "errors", "failed", "invalid_events")
_INDEX_KEYS = ("index", "event_index", "data_index")
_EVENT_PATH = re.compile(r"\b(?:[Bb]atch|data)\.(\d+)\.")


def is_rate_limited(outcome: Outcome) -> bool:
    if outcome.http_status == 429:
        return True
    return outcome.code is not None and classify_code(outcome.code, outcome.message) == "rate_limit"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(response: httpx.Response) -> Outcome:
    """The outcome of an accepted request (20001 carries `refused`), or the DeliveryError its code maps to."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    body = _json_body(response)
    code = body.get("code") if isinstance(body.get("code"), int) else None
    message = str(body.get("message") or response.reason_phrase or f"HTTP {status}")[:1000]
    request_id = body.get("request_id") or response.headers.get("X-Tt-Logid")
    outcome = Outcome(http_status=status, code=code, message=message, request_id=request_id)
    if status == 429:
        raise RateLimited(outcome, retry_after)
    if status == 408 or status >= 500:
        raise RetryableError(outcome, retry_after)
    if status >= 400:
        if status in (401, 403):
            raise AuthError(outcome, retry_after)
        raise PermanentError(outcome)
    if code is None:
        # A 2xx without TikTok's envelope (a proxy page, a truncated body) proves nothing was accepted.
        outcome.message = f"HTTP {status} without a TikTok response envelope"
        raise RetryableError(outcome, retry_after)
    kind = classify_code(code, message)
    if kind == "ok":
        return outcome
    if kind == "partial":
        outcome.refused = refused_events(body, message)
        return outcome
    errors: dict[str, type[DeliveryError]] = {
        "rate_limit": RateLimited,
        "tiktok": RetryableError,
        "credential": AuthError,
        "config": SettingRefused,
        "event": PermanentError,
    }
    raise errors.get(kind, UnknownCodeError)(outcome, retry_after)


def refused_events(body: dict[str, Any], message: str) -> dict[int, str]:
    """The events a partial answer names as refused: batch index -> reason (empty when it names none)."""
    found: dict[int, str] = {}
    data = body.get("data")
    for key in _REFUSED_LISTS if isinstance(data, dict) else ():
        items = data.get(key) if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            index = next((item[k] for k in _INDEX_KEYS if type(item.get(k)) is int), None)
            if index is not None:
                reason = item.get("message") or item.get("reason") or f"code {item.get('code')}"
                found[index] = str(reason)[:500]
    for match in _EVENT_PATH.finditer(message):
        found.setdefault(int(match.group(1)), message[:500])
    return found


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def track_body(envelope: dict[str, Any], data: list[bytes]) -> bytes:
    """The request body: the envelope's fields, then `data` spliced in from the stored JSON items."""
    head = _json_bytes({key: value for key, value in envelope.items() if key != "data"})
    return head[:-1] + (b',"data":[' if len(head) > 2 else b'"data":[') + b",".join(data) + b"]}"


class EventsApiClient:
    """Posts batches to the Events API at `base_url` over one shared httpx.AsyncClient.

    `scrub` removes every configured secret from the text of TikTok's answers before anyone sees or stores it.
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str, scrub: Callable[[str], str] | None = None) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + TRACK_PATH
        self._scrub = scrub

    async def send(self, body: bytes, access_token: str) -> Outcome:
        try:
            response = await self._http.post(
                self._url, content=body, headers={"Access-Token": access_token, "Content-Type": "application/json"}
            )
        except httpx.TimeoutException as error:
            raise RetryableError(Outcome(None, None, f"timeout: {type(error).__name__}")) from None
        except httpx.TransportError as error:
            raise RetryableError(Outcome(None, None, f"connection error: {type(error).__name__}")) from None
        try:
            return self._without_secrets(access_token, classify(response))
        except DeliveryError as error:
            self._without_secrets(access_token, error.outcome)
            raise

    def _without_secrets(self, token: str, outcome: Outcome) -> Outcome:
        """An upstream message may echo a secret back; it must not reach our logs, store, stats or pages."""
        outcome.message = self._clean(outcome.message, token)
        if outcome.request_id:
            outcome.request_id = self._clean(outcome.request_id, token)
        if outcome.refused:
            outcome.refused = {index: self._clean(reason, token) for index, reason in outcome.refused.items()}
        return outcome

    def _clean(self, text: str, token: str) -> str:
        if self._scrub is not None:
            text = self._scrub(text)
        return text.replace(token, REDACTED) if token else text

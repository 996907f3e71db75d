"""Send one batch to `POST /open_api/v1.3/event/track/` and classify TikTok's answer.

Delivered means HTTP 2xx *and* `code` 0 in the body: TikTok reports most errors as HTTP 200 with a non-zero
code, and peers that only look at the HTTP status lose those events silently.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import DeliveryError, Outcome, PermanentError, RetryableError

TRACK_PATH = "/open_api/v1.3/event/track/"
REDACTED = "[redacted]"

# Codes worth retrying: rate limits and TikTok-side errors (digest section 8.3).
RATE_LIMIT_CODES = frozenset({40100, 51021})
RETRYABLE_CODES = RATE_LIMIT_CODES | {50000, 50002}
# Permission and token problems: the request was fine, the credentials were not; fixed by config, not by data.
AUTH_CODES = frozenset({40001, 40105})
SUCCESS_CODES = frozenset({0, 20001})
# The request itself is wrong (invalid parameter, price, OAuth app id, object not found): retrying cannot help.
PERMANENT_CODES = frozenset({40000, 40002, 40007, 40101, 40110})


class AuthError(RetryableError):
    """TikTok refused the destination's credentials (40001 permission, 40105 bad or revoked token)."""


class UnknownCodeError(RetryableError):
    """A non-zero code we have no rule for: worth a few retries, not the full retry budget."""


def is_rate_limited(outcome: Outcome) -> bool:
    return outcome.http_status == 429 or outcome.tiktok_code in RATE_LIMIT_CODES


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
    """The outcome of a delivered request, or raise RetryableError / PermanentError."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    body = _json_body(response)
    code = body.get("code") if isinstance(body.get("code"), int) else None
    message = str(body.get("message") or response.reason_phrase or f"HTTP {status}")[:1000]
    request_id = body.get("request_id") or response.headers.get("X-Tt-Logid")
    outcome = Outcome(http_status=status, tiktok_code=code, message=message, request_id=request_id)
    if status == 429 or status == 408 or status >= 500:
        raise RetryableError(outcome, retry_after)
    if status >= 400:
        if status in (401, 403):
            raise AuthError(outcome, retry_after)
        raise PermanentError(outcome)
    if code is None:
        # A 2xx without TikTok's envelope (a proxy page, a truncated body) proves nothing was accepted.
        outcome.message = f"HTTP {status} without a TikTok response envelope"
        raise RetryableError(outcome, retry_after)
    if code in SUCCESS_CODES:
        return outcome
    if code in RETRYABLE_CODES:
        raise RetryableError(outcome, retry_after)
    if code in AUTH_CODES:
        raise AuthError(outcome, retry_after)
    if code in PERMANENT_CODES:
        raise PermanentError(outcome)
    raise UnknownCodeError(outcome, retry_after)


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
        return outcome

    def _clean(self, text: str, token: str) -> str:
        if self._scrub is not None:
            text = self._scrub(text)
        return text.replace(token, REDACTED) if token else text

"""Every Events API answer classified: the digest's real error bodies, HTTP statuses and transport failures."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from forwarder.errors import PermanentError, RateLimited, RetryableError, SettingRefused
from forwarder.tiktok.client import (
    AuthError,
    EventsApiClient,
    UnknownCodeError,
    classify,
    parse_retry_after,
    track_body,
)
from forwarder.tiktok.payload import envelope
from tests.conftest import TIKTOK

# (HTTP status, body, expected) — bodies from ../shared/tiktok-events-api.md section 8.2.
ANSWERS: list[tuple[int, Any, Any]] = [
    (200, {"code": 0, "message": "OK", "request_id": "202303141300390EF6F5D96D1798201C51", "data": {}}, None),
    (200, {"code": 20001, "message": "partial", "request_id": "r"}, None),
    (
        200,
        {
            "code": 40002,
            "message": "Invalid value for event_id: not a valid string.",
            "request_id": "202303141300390EF6F5D96D1798201C51",
        },
        PermanentError,
    ),
    (
        200,
        {
            "code": 40002,
            "message": "Invalid value for event_source_id: not a valid string.",
            "request_id": "20250103073127BF3B94E1C8AF2EC6xxxxxx",
        },
        SettingRefused,  # the envelope's event_source_id, not an event: splitting the batch cannot help
    ),
    (200, {"code": 40002, "message": "Batch.0.properties.contents.0.content_id: Not a valid string"}, PermanentError),
    (
        200,
        {
            "code": 40001,
            "message": "No permission to operate pixel code: BU35TSQHT2A1QT375OMG. You must be an "
            "admin or operator of this advertiser account.",
        },
        AuthError,
    ),
    (200, {"code": 40100, "message": "Too many requests. Please retry in some time."}, RateLimited),
    (200, {"code": 40105, "message": "Access token is incorrect or has been revoked."}, AuthError),
    (200, {"code": 40100, "message": "App reaches the QPS limit."}, RateLimited),
    (200, {"code": 40000, "message": "Invalid Price Field"}, PermanentError),
    (200, {"code": 51021, "message": "Too many requests"}, RateLimited),
    (200, {"code": 50002, "message": "Service temporarily unavailable"}, RetryableError),
    (200, {"code": 41234, "message": "something new"}, UnknownCodeError),
    (200, "<html>OK</html>", RetryableError),  # 2xx without TikTok's envelope proves nothing
    (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", RetryableError),
    (503, "", RetryableError),
    (429, "", RateLimited),
    (408, "", RetryableError),
    (401, {"code": 40105, "message": "bad token"}, AuthError),
    (400, {"code": 40002, "message": "bad"}, PermanentError),
]


@pytest.mark.parametrize(("status", "body", "expected"), ANSWERS)
def test_answers_are_classified(status: int, body: Any, expected: type[Exception] | None) -> None:
    response = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    if expected is None:
        outcome = classify(response)
        assert outcome.code in (0, 20001)
        return
    with pytest.raises(expected) as raised:
        classify(response)
    assert type(raised.value) is expected
    if isinstance(body, dict):
        assert raised.value.outcome.code == body["code"]
        assert raised.value.outcome.message == body["message"]
        assert raised.value.outcome.request_id == body.get("request_id")


def test_retry_after_in_seconds_and_http_date() -> None:
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert parse_retry_after("soon") is None
    with pytest.raises(RetryableError) as raised:
        classify(httpx.Response(429, headers={"Retry-After": "7"}))
    assert raised.value.retry_after_s == 7


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ReadTimeout("slow"), "timeout: ReadTimeout"),
        (httpx.ConnectError("refused"), "connection error"),
        (httpx.RemoteProtocolError("reset"), "connection error"),
    ],
)
async def test_timeouts_and_resets_are_retryable(failure: Exception, message: str) -> None:
    def raise_it(request: httpx.Request) -> httpx.Response:
        raise failure

    async with httpx.AsyncClient(transport=httpx.MockTransport(raise_it)) as http:
        with pytest.raises(RetryableError) as raised:
            await EventsApiClient(http, TIKTOK).send(b"{}", "token")
    assert raised.value.outcome.message.startswith(message)


@pytest.mark.anyio
async def test_request_shape_and_token_scrubbed_from_echoes() -> None:
    seen: list[httpx.Request] = []

    def tiktok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 40105, "message": "token tok-123456 revoked"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(tiktok)) as http:
        with pytest.raises(AuthError) as raised:
            await EventsApiClient(http, TIKTOK + "/").send(b'{"data":[]}', "tok-123456")
    assert str(seen[0].url) == f"{TIKTOK}/open_api/v1.3/event/track/"
    assert seen[0].headers["Access-Token"] == "tok-123456"
    assert "tok-123456" not in raised.value.outcome.message


def test_track_body_splices_stored_items_into_the_envelope() -> None:
    head = envelope(event_source="app", event_source_id="123", data=[], partner_name="P", test_event_code="T1")
    body = json.loads(track_body(head, [b'{"event":"A"}', b'{"event":"B"}']))
    assert body == {
        "event_source": "app",
        "event_source_id": "123",
        "partner_name": "P",
        "test_event_code": "T1",
        "data": [{"event": "A"}, {"event": "B"}],
    }

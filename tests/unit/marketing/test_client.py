"""The Marketing API client against the emulator's own answers: success, each refusal classed, budget taken."""

from __future__ import annotations

import httpx
import pytest

from forwarder.marketing.client import MarketingClient, MarketingError
from forwarder.marketing.problems import classify
from forwarder.marketing_emulator import MarketingState, create_marketing_emulator

pytestmark = pytest.mark.anyio
ADVERTISER = "7002238017842757633"


def client(state: MarketingState, calls: list[int] | None = None) -> MarketingClient:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_marketing_emulator(state)))

    async def budget() -> None:
        if calls is not None:
            calls.append(1)

    return MarketingClient(http, "http://emulator", budget=budget, scrub=lambda t: t.replace("secret-tok", "[x]"))


async def test_a_created_audience_comes_back_with_its_request_id() -> None:
    calls: list[int] = []
    answer = await client(MarketingState(), calls).post(
        "/segment/audience/", "emulator-token", {"advertiser_id": ADVERTISER, "custom_audience_name": "trial"}
    )
    assert answer.data["audience_id"] and answer.request_id
    assert calls == [1]


@pytest.mark.parametrize(
    ("token", "problem"),
    [("", "invalid_connection"), ("revoked", "invalid_connection"), ("emulator-token", "missing_permission")],
)
async def test_refusals_are_named(token: str, problem: str) -> None:
    with pytest.raises(MarketingError) as caught:
        await client(MarketingState()).post(
            "/segment/audience/", token or None, {"advertiser_id": "999", "custom_audience_name": "x"}
        )
    assert caught.value.problem.name == problem
    assert caught.value.describe()["fix"]


async def test_a_transport_failure_is_an_internal_error_to_retry() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    marketing = MarketingClient(httpx.AsyncClient(transport=httpx.MockTransport(refuse)), "http://x")
    with pytest.raises(MarketingError) as caught:
        await marketing.get("/advertiser/info/", "t", {"advertiser_ids": [ADVERTISER]})
    assert caught.value.problem.name == "internal_error" and caught.value.problem.retry


@pytest.mark.parametrize(
    ("code", "message", "status", "problem"),
    [
        (40100, "App reaches the QPS limit.", 200, "rate_limited"),
        (40102, "Access token has expired.", 200, "connection_expired"),
        (40002, "custom_audience_ids: audience 1 does not exist.", 200, "audience_not_found"),
        (40002, "Audience 1 is not ready yet, please retry later.", 400, "audience_not_ready"),
        (40002, "The advertiser already has 400 custom audiences.", 200, "audience_limit_reached"),
        (40002, "batch_data.0.0.id: not a EMAIL_SHA256 hex digest.", 200, "incorrect_data_format"),
        (40002, "advertiser_id: Missing data for required field.", 200, "invalid_parameters"),
        (60001, "service maintenance", 200, "internal_error"),
        (None, "", 502, "internal_error"),
    ],
)
def test_codes_and_messages_map_to_one_documented_problem(
    code: int | None, message: str, status: int, problem: str
) -> None:
    assert classify(code, message, status).name == problem

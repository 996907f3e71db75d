"""The Marketing API emulator's `/_control/*` area: scripted answers, state, members, reset."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from forwarder.marketing_emulator import MarketingState, create_marketing_emulator

pytestmark = pytest.mark.anyio

ADVERTISER = "7002238017842757633"
CREATE = "/open_api/v1.3/segment/audience/"
INFO = "/open_api/v1.3/advertiser/info/"
TOKEN = {"Access-Token": "emulator-token"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_marketing_emulator(MarketingState(ready_after_s=0)))
    async with httpx.AsyncClient(transport=transport, base_url="http://tiktok.test", headers=TOKEN) as client:
        yield client


async def info(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get(INFO, params={"advertiser_ids": f'["{ADVERTISER}"]'})


async def test_scripted_answers_come_in_order_then_the_emulator_answers_itself(client: httpx.AsyncClient) -> None:
    script = {"responses": [{"status": 503}, {"code": 50000, "message": "Internal error"}]}
    assert (await client.post("/_control/script", json=script)).json() == {"queued": 2}
    assert (await info(client)).status_code == 503
    assert (await info(client)).json()["code"] == 50000
    assert (await info(client)).json()["code"] == 0
    assert (await client.get("/_control/state")).json()["answers"] == {"http_503": 1, "50000": 1, "0": 1}


async def test_a_scripted_answer_for_one_path_leaves_the_others_alone(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"responses": [{"code": 40100, "path": CREATE}]})
    assert (await info(client)).json()["code"] == 0
    answer = (await client.post(CREATE, json={"advertiser_id": ADVERTISER, "custom_audience_name": "a"})).json()
    assert answer["code"] == 40100


async def test_a_token_can_be_granted_for_one_advertiser(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"tokens": {"narrow": {"advertiser_ids": ["7002238017842757634"]}}})
    assert (
        await client.get(INFO, params={"advertiser_ids": f'["{ADVERTISER}"]'}, headers={"Access-Token": "narrow"})
    ).json()["code"] == 40001


async def test_an_invalid_script_is_a_400(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_control/script", json={"revoke_tokens": ["nobody"]})).status_code == 400
    assert (await client.post("/_control/script", json=[1])).status_code == 400


async def test_members_of_an_unknown_audience_are_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_control/audiences/1")).status_code == 404


async def test_reset_forgets_audiences_and_revocations(client: httpx.AsyncClient) -> None:
    await client.post(CREATE, json={"advertiser_id": ADVERTISER, "custom_audience_name": "a"})
    await client.post("/_control/script", json={"revoke_tokens": ["emulator-token"]})
    assert (await client.post("/_control/reset")).status_code == 204
    state = (await client.get("/_control/state")).json()
    assert state["audiences"] == [] and state["tokens"]["emulator-token"]["revoked"] is False
    assert (await info(client)).json()["code"] == 0

"""The Marketing API emulator's advertiser authorisation: consent page, code exchange, advertiser list, revocation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from forwarder.marketing_emulator import MarketingState, create_marketing_emulator

pytestmark = pytest.mark.anyio

APP = {"app_id": "7000000000000000001", "secret": "emulator-secret"}
TOKEN_URL = "/open_api/v1.3/oauth2/access_token/"
ADVERTISERS = "/open_api/v1.3/oauth2/advertiser/get/"
INFO = "/open_api/v1.3/advertiser/info/"


class Clock:
    def __init__(self) -> None:
        self.now = 1_796_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    state = MarketingState(clock=clock)
    transport = httpx.ASGITransport(app=create_marketing_emulator(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://tiktok.test") as client:
        yield client


async def auth_code(client: httpx.AsyncClient, state: str = "xyz") -> str:
    params = {"app_id": APP["app_id"], "state": state, "redirect_uri": "http://forwarder.test/callback?x=1"}
    page = await client.get("/portal/auth", params=params)
    assert page.status_code == 200 and 'id="authorize"' in page.text and "Emulated Apps US" in page.text
    redirect = await client.get("/portal/auth/confirm", params=params)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    assert (location.netloc, location.path) == ("forwarder.test", "/callback")
    query = parse_qs(location.query)
    assert query["state"] == [state] and query["x"] == ["1"]
    return query["auth_code"][0]


async def test_the_oauth_round_trip_gives_a_token_that_reaches_the_advertisers(client: httpx.AsyncClient) -> None:
    code = await auth_code(client)
    answer = (await client.post(TOKEN_URL, json={**APP, "auth_code": code})).json()
    assert answer["code"] == 0 and answer["request_id"]
    token = answer["data"]["access_token"]
    assert answer["data"]["advertiser_ids"] == ["7002238017842757633", "7002238017842757634"]
    assert answer["data"]["scope"] and "refresh_token" not in answer["data"]  # advertiser tokens are long-term
    listed = (await client.get(ADVERTISERS, params=APP, headers={"Access-Token": token})).json()
    assert [a["advertiser_id"] for a in listed["data"]["list"]] == answer["data"]["advertiser_ids"]


async def test_an_auth_code_is_good_once(client: httpx.AsyncClient) -> None:
    code = await auth_code(client)
    assert (await client.post(TOKEN_URL, json={**APP, "auth_code": code})).json()["code"] == 0
    assert (await client.post(TOKEN_URL, json={**APP, "auth_code": code})).json()["code"] == 40110


async def test_an_auth_code_expires_after_an_hour(client: httpx.AsyncClient, clock: Clock) -> None:
    code = await auth_code(client)
    clock.now += 3601
    answer = (await client.post(TOKEN_URL, json={**APP, "auth_code": code})).json()
    assert answer["code"] == 40110 and "expired" in answer["message"]


async def test_a_wrong_secret_is_refused_with_40101(client: httpx.AsyncClient) -> None:
    code = await auth_code(client)
    answer = (await client.post(TOKEN_URL, json={**APP, "secret": "nope", "auth_code": code})).json()
    assert answer["code"] == 40101


async def test_the_consent_page_refuses_an_unknown_app(client: httpx.AsyncClient) -> None:
    page = await client.get("/portal/auth", params={"app_id": "1", "redirect_uri": "http://x.test/"})
    assert page.status_code == 400


async def test_a_revoked_token_is_answered_40105_everywhere(client: httpx.AsyncClient) -> None:
    code = await auth_code(client)
    token = (await client.post(TOKEN_URL, json={**APP, "auth_code": code})).json()["data"]["access_token"]
    revoke = await client.post("/open_api/v1.3/oauth2/revoke_token/", json={**APP, "access_token": token})
    assert revoke.json()["code"] == 0
    params = {"advertiser_ids": '["7002238017842757633"]'}
    assert (await client.get(INFO, params=params, headers={"Access-Token": token})).json()["code"] == 40105


async def test_control_revokes_a_token_and_drops_a_permission(client: httpx.AsyncClient) -> None:
    params = {"advertiser_ids": '["7002238017842757633"]'}
    headers = {"Access-Token": "emulator-token"}
    await client.post("/_control/script", json={"drop_scopes": {"emulator-token": ["ad_account"]}})
    answer = (await client.get(INFO, params=params, headers=headers)).json()
    assert answer["code"] == 40001 and "ad_account" in answer["message"]
    await client.post("/_control/script", json={"revoke_tokens": ["emulator-token"]})
    assert (await client.get(INFO, params=params, headers=headers)).json()["code"] == 40105
    assert (await client.get("/_control/state")).json()["tokens"]["emulator-token"]["revoked"] is True


async def test_a_missing_token_is_40104(client: httpx.AsyncClient) -> None:
    assert (await client.get(INFO, params={"advertiser_ids": '["7002238017842757633"]'})).json()["code"] == 40104


async def test_advertiser_info_gives_time_zone_and_currency(client: httpx.AsyncClient) -> None:
    params = {"advertiser_ids": '["7002238017842757633", "7002238017842757634"]'}
    answer = (await client.get(INFO, params=params, headers={"Access-Token": "emulator-token"})).json()
    found = {a["advertiser_id"]: (a["currency"], a["timezone"]) for a in answer["data"]["list"]}
    assert found == {
        "7002238017842757633": ("USD", "America/Los_Angeles"),
        "7002238017842757634": ("EUR", "Europe/Berlin"),
    }


async def test_an_advertiser_the_token_does_not_reach_is_40001(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"drop_advertisers": {"emulator-token": ["7002238017842757634"]}})
    params = {"advertiser_ids": '["7002238017842757634"]'}
    assert (await client.get(INFO, params=params, headers={"Access-Token": "emulator-token"})).json()["code"] == 40001


async def test_control_routes_answer_only_what_authorize_lets_through() -> None:
    from starlette.responses import JSONResponse

    app = create_marketing_emulator(authorize=lambda request: JSONResponse({}, status_code=401))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t.test") as client:
        assert (await client.get("/_control/state")).status_code == 401
        assert (await client.get(INFO, params={"advertiser_ids": '["1"]'})).status_code == 200


async def test_tokens_can_be_made_to_expire(client: httpx.AsyncClient, clock: Clock) -> None:
    await client.post("/_control/script", json={"token_ttl_s": 86400})
    code = await auth_code(client)
    granted = (await client.post(TOKEN_URL, json={**APP, "auth_code": code})).json()["data"]
    assert granted["expires_in"] == 86400
    params = {"advertiser_ids": '["7002238017842757633"]'}
    headers = {"Access-Token": granted["access_token"]}
    assert (await client.get(INFO, params=params, headers=headers)).json()["code"] == 0
    clock.now += 86400
    assert (await client.get(INFO, params=params, headers=headers)).json()["code"] == 40102
    await client.post("/_control/script", json={"expire_tokens": ["emulator-token"]})
    assert (await client.get(INFO, params=params, headers={"Access-Token": "emulator-token"})).json()["code"] == 40102

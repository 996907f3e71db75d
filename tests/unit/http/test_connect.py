"""Connect TikTok over the real app (ASGI) against the Marketing API emulator: the flow, its refusals, the
connection's states, disconnecting, and no token in any answer, page or log line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
import respx
from starlette.testclient import TestClient

from forwarder.app import create_app
from forwarder.marketing_emulator import MarketingState, create_marketing_emulator
from tests.conftest import make_settings

MARKETING = "http://marketing.test"
PUBLIC = "http://forwarder.test"
ADMIN_TOKEN = "connect-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
APP_ID, APP_SECRET = "7000000000000000001", "emulator-secret"
ADVERTISERS = {"7002238017842757633", "7002238017842757634"}


class Routed(httpx.AsyncBaseTransport):
    """TikTok for the app: the Marketing API emulator at MARKETING, respx (Events API) for the rest."""

    def __init__(self, marketing: MarketingState) -> None:
        self.marketing = httpx.ASGITransport(app=create_marketing_emulator(marketing))
        self.events = httpx.MockTransport(respx.Router(assert_all_called=False).async_handler)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "marketing.test":
            return await self.marketing.handle_async_request(request)
        return await self.events.handle_async_request(request)


@pytest.fixture
def emulator() -> MarketingState:
    return MarketingState()


def marketing_settings(**overrides: Any) -> dict[str, Any]:
    values = {"base_url": MARKETING, "app_id": APP_ID, "app_secret": APP_SECRET, "public_url": PUBLIC}
    return {**values, **overrides}


def open_app(tmp_path: Path, emulator: MarketingState, **marketing: Any) -> TestClient:
    settings = make_settings(tmp_path, admin_token=ADMIN_TOKEN, marketing=marketing_settings(**marketing))
    return TestClient(create_app(settings, transport=Routed(emulator)), follow_redirects=False)


@pytest.fixture
def client(tmp_path: Path, emulator: MarketingState) -> Iterator[TestClient]:
    with open_app(tmp_path, emulator) as client:
        yield client


def consent(emulator: MarketingState, authorisation_url: str) -> str:
    """What the operator's browser does on TikTok's page: Authorize; returns the callback path and query."""
    url = urlsplit(authorisation_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{MARKETING}/portal/auth"
    query = parse_qs(url.query)
    assert query["app_id"] == [APP_ID] and query["redirect_uri"] == [f"{PUBLIC}/connect/tiktok/callback"]

    async def authorize() -> str:
        transport = httpx.ASGITransport(app=create_marketing_emulator(emulator))
        async with httpx.AsyncClient(transport=transport, base_url=MARKETING) as tiktok:
            page = await tiktok.get("/portal/auth", params=query)
            assert 'action="auth/confirm"' in page.text  # relative: works under the embedded emulator's mount
            answer = await tiktok.get("/portal/auth/confirm", params=query)
            return str(answer.headers["location"])

    back = urlsplit(anyio.run(authorize))
    assert f"{back.scheme}://{back.netloc}" == PUBLIC
    return f"{back.path}?{back.query}"


def start(client: TestClient) -> str:
    answer = client.get("/connect/tiktok", headers=ADMIN)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def connect(client: TestClient, emulator: MarketingState) -> str:
    callback = consent(emulator, start(client))
    landed = client.get(callback)
    assert landed.status_code == 303 and landed.headers["location"] == "/?tiktok=connected", landed.text
    return callback


def granted_token(emulator: MarketingState) -> str:
    [token] = [t for t in emulator.tokens if t != "emulator-token"]
    return token


def test_the_flow_stores_the_credential_and_the_probe_finds_both_advertisers(
    client: TestClient, emulator: MarketingState
) -> None:
    assert client.get("/v1/marketing/connection", headers=ADMIN).json()["state"] == "not_connected"
    connect(client, emulator)
    state = client.get("/v1/marketing/connection", headers=ADMIN).json()
    assert state["state"] == "connected" and state["source"] == "connect"
    assert {a["advertiser_id"] for a in state["advertisers"]} == ADVERTISERS
    assert {a["name"] for a in state["advertisers"]} == {"Emulated Apps US", "Emulated Apps EU"}
    assert state["connected_at"] and state["cause"] is None
    token = granted_token(emulator)
    page = client.get("/?tiktok=connected", headers=ADMIN).text
    assert 'data-state="connected"' in page and 'id="tiktok-notice"' in page and "Emulated Apps EU" in page
    for text in (json.dumps(state), page, client.get("/metrics", headers=ADMIN).text):
        assert token not in text and APP_SECRET not in text
    assert 'forwarder_marketing_connection_state{state="connected"} 1.0' in client.get("/metrics", headers=ADMIN).text


def test_the_connected_credential_takes_over_from_the_configured_token(
    tmp_path: Path, emulator: MarketingState
) -> None:
    with open_app(tmp_path, emulator, access_token="emulator-token") as client:
        configured = client.get("/v1/marketing/connection", headers=ADMIN).json()
        assert (configured["state"], configured["source"]) == ("connected", "config")
        connect(client, emulator)
        assert client.get("/v1/marketing/connection", headers=ADMIN).json()["source"] == "connect"
        client.post("/v1/marketing/disconnect", json={}, headers=ADMIN)
        assert client.get("/v1/marketing/connection", headers=ADMIN).json()["source"] == "config"


def test_a_used_state_and_a_used_code_are_refused_with_what_to_do(client: TestClient, emulator: MarketingState) -> None:
    callback = connect(client, emulator)
    again = client.get(callback, headers={"Accept": "text/html"})
    assert again.status_code == 400 and 'data-error="invalid_state"' in again.text and "Connect TikTok" in again.text
    code = parse_qs(urlsplit(callback).query)["auth_code"][0]
    fresh_state = parse_qs(urlsplit(start(client)).query)["state"][0]
    reused = client.get("/connect/tiktok/callback", params={"auth_code": code, "state": fresh_state})
    assert reused.status_code == 400 and reused.json()["error"] == "auth_code_refused"
    assert reused.json()["tiktok_code"] == 40110 and "start again" in reused.json()["message"]


@pytest.mark.parametrize(
    "query",
    [{}, {"auth_code": "x"}, {"state": "made-up", "auth_code": "x"}, {"state": "s" * 5000, "auth_code": "x"}],
)
def test_a_callback_without_a_state_we_made_is_refused(client: TestClient, query: dict[str, str]) -> None:
    answer = client.get("/connect/tiktok/callback", params=query)
    assert answer.status_code == 400 and answer.json()["error"] in ("invalid_state", "invalid_parameter")
    assert client.get("/v1/marketing/connection", headers=ADMIN).json()["state"] == "not_connected"


def test_a_state_without_a_code_is_spent(client: TestClient, emulator: MarketingState) -> None:
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    assert client.get("/connect/tiktok/callback", params={"state": state}).json()["error"] == "missing_auth_code"
    assert client.get("/connect/tiktok/callback", params={"state": state, "auth_code": "x"}).json()["error"] == (
        "invalid_state"
    )


def test_admin_routes_need_the_admin_token(client: TestClient) -> None:
    assert client.get("/connect/tiktok").status_code == 401
    assert client.get("/v1/marketing/connection").status_code == 401
    assert client.post("/v1/marketing/disconnect", json={}).status_code == 401
    cross_site = {**ADMIN, "Origin": "https://evil.example"}
    assert client.post("/v1/marketing/disconnect", json={}, headers=cross_site).status_code == 403
    assert client.post("/v1/marketing/disconnect", content=b"{}", headers=ADMIN).status_code == 415


def test_connect_is_refused_until_the_developer_app_and_public_url_are_set(
    tmp_path: Path, emulator: MarketingState
) -> None:
    with open_app(tmp_path, emulator, app_secret=None, public_url=None) as client:
        answer = client.get("/connect/tiktok", headers=ADMIN)
        assert answer.status_code == 403 and answer.json()["error"] == "connect_not_configured"
        assert answer.json()["missing"] == ["marketing.app_secret", "marketing.public_url"]
        assert 'id="connect-tiktok-missing"' in client.get("/", headers=ADMIN).text
        assert client.get("/connect/tiktok/callback", params={"state": "s", "auth_code": "c"}).status_code == 403


@pytest.mark.parametrize(
    ("script", "state", "code"),
    [
        ("expire_tokens", "expired", 40102),
        ("revoke_tokens", "revoked", 40105),
        ("drop_scopes", "missing_permission", 40001),
    ],
)
def test_the_probe_names_a_bad_state_with_its_cause_and_fix(
    client: TestClient, emulator: MarketingState, script: str, state: str, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    connect(client, emulator)
    token = granted_token(emulator)
    if script == "drop_scopes":
        emulator.tokens[token].scopes.discard("ad_account")
    elif script == "expire_tokens":
        emulator.tokens[token].expires_at = emulator.clock()
    else:
        emulator.tokens[token].revoked = True
    found = client.get("/v1/marketing/connection", params={"check": "true"}, headers=ADMIN).json()
    assert (found["state"], found["tiktok_code"]) == (state, code)
    assert found["cause"] and found["fix"] and found["request_id"]
    page = client.get("/", headers=ADMIN).text
    assert (
        f'data-state="{state}"' in page and 'id="tiktok-connection-problem"' in page and 'id="connect-tiktok"' in page
    )
    logged = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    assert [e["state"] for e in logged if e["event"] == "marketing.connection_state"][-1] == state
    assert token not in json.dumps(found) + page + caplog.text


def test_an_advertiser_in_config_the_token_does_not_reach_is_missing_permission(
    tmp_path: Path, emulator: MarketingState
) -> None:
    with open_app(tmp_path, emulator, advertiser_ids=["7002238017842757633", "999"]) as client:
        connect(client, emulator)
        found = client.get("/v1/marketing/connection", headers=ADMIN).json()
        assert found["state"] == "missing_permission" and found["missing_advertisers"] == ["999"]
        assert [a["advertiser_id"] for a in found["advertisers"]] == ["7002238017842757633"]


def test_disconnect_revokes_at_tiktok_and_forgets(
    client: TestClient, emulator: MarketingState, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.post("/v1/marketing/disconnect", json={}, headers=ADMIN).status_code == 409
    connect(client, emulator)
    token = granted_token(emulator)
    answer = client.post("/v1/marketing/disconnect", json={}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["disconnected"] and body["revoked_at_tiktok"] and body["connection"]["state"] == "not_connected"
    assert emulator.tokens[token].revoked
    assert "marketing.disconnected" in caplog.text and token not in answer.text + caplog.text
    assert client.post("/v1/marketing/disconnect", json={}, headers=ADMIN).status_code == 409


def test_the_exchange_keeps_an_expiry_when_tiktok_gives_one(client: TestClient, emulator: MarketingState) -> None:
    emulator.token_ttl_s = 3600
    connect(client, emulator)
    found = client.get("/v1/marketing/connection", headers=ADMIN).json()
    assert found["state"] == "connected" and found["expires_at"] == pytest.approx(found["connected_at"] + 3600)

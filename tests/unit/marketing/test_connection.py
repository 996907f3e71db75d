"""The credential in use and its health, on a real SQLite store against the Marketing API emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from forwarder.marketing.connection import Connection
from forwarder.marketing_emulator import MarketingState, create_marketing_emulator
from forwarder.store import Store
from forwarder.store.marketing import MarketingCredential
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio
US, EU = "7002238017842757633", "7002238017842757634"
APP = {"app_id": "7000000000000000001", "app_secret": "emulator-secret"}


def connection(
    tmp_path: Path,
    store: Store,
    transport: httpx.AsyncBaseTransport,
    states: list[str] | None = None,
    **marketing: Any,
) -> Connection:
    """A worker's Connection; `states` collects what it sets the state gauge to."""
    settings = make_settings(tmp_path, marketing={"base_url": "http://marketing.test", **marketing})
    http = httpx.AsyncClient(transport=transport)
    record = (lambda state, _: states.append(state)) if states is not None else None
    return Connection(settings, store, http, lambda: 1_800_000_000.0, on_state=record)


def emulator(state: MarketingState | None = None) -> httpx.AsyncBaseTransport:
    return httpx.ASGITransport(app=create_marketing_emulator(state or MarketingState()))


async def test_the_connected_credential_comes_before_the_configured_token(tmp_path: Path, store: Store) -> None:
    marketing = connection(tmp_path, store, emulator(), access_token="configured-token")
    assert await marketing.token() == "configured-token"
    await store.save_marketing_credential(MarketingCredential("emulator-token", (US,), (), 1.0))
    assert await marketing.token() == "emulator-token"
    assert await marketing.advertisers() == [US]


async def test_another_workers_connect_is_seen_at_the_next_read(tmp_path: Path, store: Store) -> None:
    """Two workers share the store: what one connects, the other's page shows without waiting for the interval."""
    seen: list[str] = []
    first, second = connection(tmp_path, store, emulator(), **APP), connection(tmp_path, store, emulator(), seen, **APP)
    assert (await second.current()).state == "not_connected"
    await first.connect(MarketingCredential("emulator-token", (US, EU), (), 1.0))
    health = await second.current()
    assert health.state == "connected" and {a.advertiser_id for a in health.advertisers} == {US, EU}
    await first.forget()
    assert (await second.current()).state == "not_connected"
    assert seen == ["not_connected", "connected", "not_connected"]


async def test_no_answer_is_unreachable(tmp_path: Path, store: Store) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    marketing = connection(tmp_path, store, httpx.MockTransport(refuse), access_token="t", **APP)
    health = await marketing.check()
    assert health.state == "unreachable" and health.document()["fix"]


async def test_a_token_with_nothing_to_ask_is_unverified_and_advertiser_ids_verify_it(
    tmp_path: Path, store: Store
) -> None:
    assert (await connection(tmp_path, store, emulator(), access_token="emulator-token").check()).state == "unverified"
    with_ids = connection(tmp_path, store, emulator(), access_token="emulator-token", advertiser_ids=[EU])
    health = await with_ids.check()
    assert health.state == "connected" and [(a.advertiser_id, a.name) for a in health.advertisers] == [
        (EU, "Emulated Apps EU")
    ]


async def test_a_wrong_app_secret_is_refused_with_tiktoks_message(tmp_path: Path, store: Store) -> None:
    marketing = connection(
        tmp_path, store, emulator(), access_token="emulator-token", app_id=APP["app_id"], app_secret="x"
    )
    health = await marketing.check()
    assert (health.state, health.tiktok_code) == ("refused", 40101) and "secret" in (health.message or "")


async def test_an_expiry_already_passed_is_expired_without_asking(tmp_path: Path, store: Store) -> None:
    def unexpected(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    await store.save_marketing_credential(MarketingCredential("tok", (US,), (), 1.0, access_expires_at=2.0))
    assert (await connection(tmp_path, store, httpx.MockTransport(unexpected), **APP).check()).state == "expired"

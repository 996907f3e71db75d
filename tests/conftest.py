"""Shared fixtures: settings on a temp SQLite file, a respx-scripted TikTok, the app under TestClient."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from forwarder.app import create_app
from forwarder.settings import Settings
from tests.postgres import postgres_database

from .configs import REPO

TIKTOK = "https://tiktok.test"
TRACK_URL = f"{TIKTOK}/open_api/v1.3/event/track/"
INGEST_KEY = "test-ingest-key-0001"
ACCESS_TOKEN = "sentinel-access-token-7f3a9c"
AUTH = {"Authorization": f"Bearer {INGEST_KEY}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mappings_dir": REPO / "mappings",
        "log_format": "json",
        "store": {"url": f"sqlite:///{tmp_path / 'forwarder.db'}"},
        "tiktok": {"base_url": TIKTOK, "partner_name": "ForwarderTests"},
        "delivery": {"poll_interval_s": 0.05, "retry_base_s": 0.01, "retry_cap_s": 0.05, "timeout_s": 2, "lease_s": 6},
        "sources": {"ios_app": {"keys": [INGEST_KEY]}},
        "destinations": {
            "app_main": {"event_source": "app", "event_source_id": "7301234567890123456", "access_token": ACCESS_TOKEN},
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def tiktok() -> Iterator[respx.Router]:
    """TikTok's Events API, scripted per test: by default every request is accepted with code 0."""
    router = respx.Router(assert_all_called=False)
    router.post(TRACK_URL, name="track").mock(side_effect=accept)
    yield router


def accept(request: httpx.Request) -> httpx.Response:
    return tiktok_answer(0, "OK")


def tiktok_answer(code: int, message: str, status: int = 200, request_id: str = "req-0") -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "request_id": request_id, "data": {}})


def open_client(settings: Settings, tiktok: respx.Router) -> TestClient:
    app = create_app(settings, transport=httpx.MockTransport(tiktok.async_handler))
    return TestClient(app)


@pytest.fixture
def client(settings: Settings, tiktok: respx.Router) -> Iterator[TestClient]:
    with open_client(settings, tiktok) as client:
        yield client


def event(**overrides: Any) -> dict[str, Any]:
    """The README's example event, with a current timestamp."""
    body: dict[str, Any] = {
        "event_id": "evt-1",
        "event": "START_TRIAL",
        "timestamp": int(time.time()),
        "app": {"id": "com.example.app", "name": "Example", "version": "5.4.1", "platform": "ios"},
        "user": {"email": "a@example.com", "phone": "+14155550123", "external_id": "u-42"},
        "device": {
            "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
            "idfv": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB",
            "att_status": "AUTHORIZED",
            "ip": "203.0.113.7",
            "user_agent": "Example/5.4.1 (iPhone; iOS 18.1)",
            "locale": "en-US",
        },
        "properties": {
            "value": 9.99,
            "currency": "USD",
            "contents": [{"content_id": "sku-1", "quantity": 1, "price": 9.99}],
        },
        "limited_data_use": False,
    }
    body.update(overrides)
    return body


def sent_bodies(router: respx.Router) -> list[dict[str, Any]]:
    import json

    return [json.loads(call.request.content) for call in router.calls]


def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    """Poll until `predicate()` is true; fails the test after `timeout_s` (a bound, never a measurement)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def stats_of(client: TestClient, destination: str = "app_main") -> dict[str, Any]:
    result: dict[str, Any] = client.get("/v1/stats").json()["destinations"][destination]
    return result


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Any]:
    from forwarder.store import make_store

    store = make_store(settings.store)
    await store.open()
    yield store
    await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL on each backend in turn: a SQLite file, then a PostgreSQL database of its own (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
async def any_store(store_url: str) -> AsyncIterator[Any]:
    """A store opened on each backend in turn (`store_url`): for tests of the store contract and what runs on it."""
    from forwarder.settings import StoreSettings
    from forwarder.store import make_store

    opened = make_store(StoreSettings(url=store_url))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url

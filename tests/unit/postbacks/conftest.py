"""What the postback tests share: the app with a source of each platform kind, and each platform's documented example.

The payloads use the field names and example values of each platform's documentation (see the adapter modules'
docstrings and ../shared/reference/postback-samples/README.md); timestamps are the documented ones, so the maximum
event age is lifted for these tests.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import respx
from starlette.testclient import TestClient

from tests.conftest import REPO, TRACK_URL, make_settings, open_client, tiktok_answer, wait_for

KEY = "postback-key-123"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def accepting_router() -> respx.Router:
    """TikTok, accepting every request."""
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda request: tiktok_answer(0, "OK"))
    return router


@contextmanager
def postback_client(tmp_path: Path, router: respx.Router) -> Iterator[TestClient]:
    """The app with an SDK source and a source of each platform kind, sending to `router`."""
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    with (tmp_path / "mappings" / "default.toml").open("a") as table:
        table.write('purchase_100_coins = "Purchase"\n')  # an Adjust event name, as ops would map it
    platform = {"keys": [KEY], "app_id": "com.example.app"}
    settings = make_settings(
        tmp_path,
        mappings_dir=tmp_path / "mappings",
        tiktok={"base_url": "https://tiktok.test", "max_event_age_h": 24 * 365 * 15},
        sources={
            "ios_app": {"keys": ["sdk-key"], "dedup_orders_with": ["branch"]},
            "appsflyer": {**platform, "kind": "appsflyer", "keys": [KEY]},
            "af_attributed": {**platform, "kind": "appsflyer", "keys": ["af-attributed-key"], "attributed_only": True},
            "adjust": {**platform, "kind": "adjust", "keys": ["adjust-key"], "postback_window_days": 30},
            "branch": {**platform, "kind": "branch", "keys": ["branch-key"], "dedup_orders_with": ["ios_app"]},
            "revenuecat": {**platform, "kind": "revenuecat", "keys": ["rc-key"]},
            "partner": {
                **platform,
                "kind": "generic",
                "keys": ["partner-key"],
                "fields": {
                    "event": "type",
                    "event_id": "id",
                    "timestamp": "ts",
                    "user.email": "customer.email",
                    "properties.value": "amount",
                    "properties.currency": "cur",
                },
            },
            "walled": {
                **platform,
                "kind": "generic",
                "keys": ["walled-key"],
                "allowed_ips": ["192.0.2.0/24"],
                "fields": {"event": "type", "timestamp": "ts"},
            },
        },
    )
    with open_client(settings, router) as client:
        yield client


@pytest.fixture
def router() -> respx.Router:
    return accepting_router()


@pytest.fixture
def client(tmp_path: Path, router: respx.Router) -> Iterator[TestClient]:
    with postback_client(tmp_path, router) as client:
        yield client


def sent(router: respx.Router, count: int = 1) -> list[dict[str, Any]]:
    """The events sent once there are `count` of them (two posted apart may still leave in one request)."""

    def events() -> list[dict[str, Any]]:
        return [d for call in router.calls for d in json.loads(call.request.content)["data"]]

    wait_for(lambda: len(events()) >= count)
    return events()


APPSFLYER_PURCHASE = {  # AppsFlyer Push API raw-data fields; revenue fields from its S2S af_purchase example
    "event_name": "af_purchase",
    "event_time": "2020-01-15 14:57:24.898",
    "event_type": "in-app-event",
    "app_id": "id1217828636",
    "bundle_id": "com.appsflyer.AppsFlyer",
    "platform": "ios",
    "app_version": "1.4.4",
    "idfa": "A7071198-3848-40A5-B3D0-94578D9BZZZZ",
    "idfv": "868049A3-4B2F-4A11-9B00-CFFC362XXXXX",
    "ip": "1.1.1.1",
    "user_agent": "AppsFlyer/1 CFNetwork/978.0.7 Darwin/18.6.0",
    "advertising_id": None,
    "customer_user_id": "hi.from@appsflyer.example.com",
    "appsflyer_id": "1547985076649-5309999",
    "event_value": '{"af_revenue":"6","af_content_type":"wallets","af_content_id":"15854"}',
    "event_revenue": "6",
    "event_revenue_currency": "USD",
    "event_revenue_usd": "6",
    "media_source": "organic",
    "api_version": "2.0",
    "dma": "None",
    "install_time": "2020-01-15 14:50:00.000",
}


ADJUST_PURCHASE = {  # Adjust event callback placeholders, documented example values (Android purchase)
    "activity_kind": "event",
    "event": "bkrfgq",
    "event_name": "purchase_100_coins",
    "created_at": "1404214665",
    "installed_at": "1404214634",
    "gps_adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "idfa": "{idfa}",
    "adid": "18546f6171f67e29d1cb983322ad1329",
    "revenue_float": "3.99",
    "currency": "usd",
    "tracker_name": "Network1::Christmas::Reindeers::320x70_en",
    "app_name": "MyApp",
}


BRANCH_PURCHASE = {  # Branch Event Ontology names; values from Branch's v2 PURCHASE example
    "id": "1000000000000000001",
    "name": "PURCHASE",
    "timestamp": 1499892854966,
    "user_data": {
        "os": "ANDROID",
        "platform": "ANDROID_APP",
        "aaid": "a12300c8-7f9c-4a5e-b4f1-2dd0e8c40f5a",
        "developer_identity": "user1234",
        "app_version": "1.0.0",
        "ip": "192.168.1.1",
        "user_agent": "Mozilla/5.0 (Linux; Android 8.0.0)",
    },
    "event_data": {"revenue": 180.2, "currency": "USD", "transaction_id": "trans_Id_1232343434"},
    "content_items": [{"$sku": "1101123445", "$quantity": 1, "$price": 180.2, "$product_name": "Phone"}],
    "last_attributed_touch_data": {"~channel": "tiktok"},
}

"""Postback adapters, each from its platform's documented example payload to the exact TikTok body.

The payloads use the field names and example values of each platform's documentation (see the adapter
modules' docstrings and ../shared/reference/postback-samples/README.md); timestamps are the documented ones,
so the maximum event age is lifted for these tests.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import respx
from starlette.testclient import TestClient

from tests.conftest import ACCESS_TOKEN, REPO, TRACK_URL, make_settings, open_client, tiktok_answer, wait_for

KEY = "postback-key-123"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def router() -> respx.Router:
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda request: tiktok_answer(0, "OK"))
    return router


@pytest.fixture
def client(tmp_path: Path, router: respx.Router) -> Iterator[TestClient]:
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


def test_appsflyer_push_api_purchase(client: TestClient, router: respx.Router) -> None:
    answer = client.post("/v1/postbacks/appsflyer", json=APPSFLYER_PURCHASE, headers={"Authorization": KEY})
    assert answer.status_code == 202, answer.text
    assert answer.json()["platform"] == "appsflyer"
    identity = "1547985076649-5309999|af_purchase|2020-01-15 14:57:24.898"
    assert sent(router) == [
        {
            "event": "Purchase",
            "event_time": 1579100244,
            "event_id": "af_" + sha(identity)[:32],
            "user": {
                "external_id": [sha("hi.from@appsflyer.example.com")],
                "ip": "1.1.1.1",
                "user_agent": "AppsFlyer/1 CFNetwork/978.0.7 Darwin/18.6.0",
                "idfa": "A7071198-3848-40A5-B3D0-94578D9BZZZZ",
                "idfv": "868049A3-4B2F-4A11-9B00-CFFC362XXXXX",
                "att_status": "AUTHORIZED",
            },
            # content_type: the destination's default_content_type, as the event names a product
            "properties": {"value": 6, "currency": "USD", "content_ids": ["15854"], "content_type": "product"},
            "limited_data_use": False,
            "app": {"app_id": "1217828636", "app_version": "1.4.4"},
        }
    ]


def test_appsflyer_attributed_only_skips_organic(client: TestClient, router: respx.Router) -> None:
    answer = client.post(
        "/v1/postbacks/af_attributed", json=APPSFLYER_PURCHASE, headers={"Authorization": "af-attributed-key"}
    )
    assert answer.status_code == 200 and "not attributed" in answer.json()["skipped"]
    paid = {**APPSFLYER_PURCHASE, "media_source": "tiktokglobal_int"}
    assert (
        client.post(
            "/v1/postbacks/af_attributed", json=paid, headers={"Authorization": "af-attributed-key"}
        ).status_code
        == 202
    )


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


def test_adjust_get_callback_with_key_in_the_query(client: TestClient, router: respx.Router) -> None:
    answer = client.get("/v1/postbacks/adjust?" + urlencode({**ADJUST_PURCHASE, "key": "adjust-key"}))
    assert answer.status_code == 202, answer.text
    identity = "18546f6171f67e29d1cb983322ad1329|bkrfgq|1404214665.0"
    assert sent(router) == [
        {
            "event": "Purchase",
            "event_time": 1404214665,
            "event_id": "adj_" + sha(identity)[:32],
            "user": {"gaid": "38400000-8cf0-11bd-b23e-10b96e40000d", "att_status": "NOT_APPLICABLE"},
            "properties": {"value": 3.99, "currency": "USD"},
            "limited_data_use": False,
            "app": {"app_id": "com.example.app", "app_name": "MyApp"},
        }
    ]


def test_adjust_revenue_in_cents_and_bad_times(client: TestClient, router: respx.Router) -> None:
    cents = {**ADJUST_PURCHASE, "revenue_float": "{revenue_float}", "revenue": "345", "key": "adjust-key"}
    assert client.get("/v1/postbacks/adjust?" + urlencode(cents)).status_code == 202
    assert sent(router)[0]["properties"]["value"] == 3.45
    bad = client.get(
        "/v1/postbacks/adjust?" + urlencode({**ADJUST_PURCHASE, "created_at": "test", "key": "adjust-key"})
    )
    assert bad.status_code == 422 and bad.json()["field"] == "created_at"
    late = {**ADJUST_PURCHASE, "installed_at": str(1404214665 - 40 * 86400), "key": "adjust-key"}
    skipped = client.get("/v1/postbacks/adjust?" + urlencode(late))
    assert skipped.status_code == 200 and "postback_window_days" in skipped.json()["skipped"]


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


def test_branch_purchase_webhook(client: TestClient, router: respx.Router) -> None:
    answer = client.post("/v1/postbacks/branch", json=BRANCH_PURCHASE, headers={"Authorization": "Bearer branch-key"})
    assert answer.status_code == 202, answer.text
    assert sent(router) == [
        {
            "event": "Purchase",
            "event_time": 1499892854,
            "event_id": "branch_1000000000000000001",
            "user": {
                "external_id": [sha("user1234")],
                "ip": "192.168.1.1",
                "user_agent": "Mozilla/5.0 (Linux; Android 8.0.0)",
                "gaid": "a12300c8-7f9c-4a5e-b4f1-2dd0e8c40f5a",
                "att_status": "NOT_APPLICABLE",
            },
            "properties": {
                "value": 180.2,
                "currency": "USD",
                "order_id": "trans_Id_1232343434",
                "contents": [{"content_id": "1101123445", "price": 180.2, "quantity": 1}],
                "content_type": "product",
            },
            "limited_data_use": False,
            "app": {"app_id": "com.example.app", "app_version": "1.0.0"},
        }
    ]


REVENUECAT_INITIAL = {
    "api_version": "1.0",
    "event": {  # RevenueCat sample "Initial Purchase"
        "type": "INITIAL_PURCHASE",
        "id": "12345678-1234-1234-1234-123456789012",
        "app_id": "1234567890",
        "event_timestamp_ms": 1658726378679,
        "app_user_id": "1234567890",
        "original_app_user_id": "1234567890",
        "product_id": "com.subscription.weekly",
        "period_type": "NORMAL",
        "purchased_at_ms": 1658726374000,
        "expiration_at_ms": 1659331174000,
        "environment": "PRODUCTION",
        "store": "APP_STORE",
        "transaction_id": "170000869511114",
        "original_transaction_id": "170000869511114",
        "price": 4.99,
        "currency": "USD",
        "price_in_purchased_currency": 4.99,
        "country_code": "US",
        "subscriber_attributes": {"$email": {"updated_at_ms": 1662955084635, "value": "firstlast@gmail.com"}},
    },
}


def test_revenuecat_initial_purchase_and_trial(client: TestClient, router: respx.Router) -> None:
    auth = {"Authorization": "rc-key"}  # RevenueCat sends the dashboard's Authorization value as it is
    assert client.post("/v1/postbacks/revenuecat", json=REVENUECAT_INITIAL, headers=auth).status_code == 202
    trial = {
        "api_version": "1.0",
        "event": {
            **REVENUECAT_INITIAL["event"],
            "id": "trial-1",
            "period_type": "TRIAL",
            "price": 0,
            "price_in_purchased_currency": 0,
            "currency": "PHP",
            "store": "PLAY_STORE",
            "transaction_id": "GPA.3309-9122-6177-47465",
        },
    }
    assert client.post("/v1/postbacks/revenuecat", json=trial, headers=auth).status_code == 202
    start_trial, subscribe = sorted(sent(router, 2), key=lambda d: d["event"])
    assert start_trial == {
        "event": "StartTrial",
        "event_time": 1658726378,
        "event_id": "rc_trial-1",
        "user": {
            "email": [sha("firstlast@gmail.com")],
            "external_id": [sha("1234567890")],
            "att_status": "NOT_APPLICABLE",
        },
        "properties": {
            "value": 0,
            "currency": "PHP",
            "order_id": "GPA.3309-9122-6177-47465",
            "content_ids": ["com.subscription.weekly"],
            "content_type": "product",
        },
        "limited_data_use": False,
        "app": {"app_id": "com.example.app"},
    }
    assert subscribe["event"] == "Subscribe" and subscribe["properties"]["value"] == 4.99
    assert subscribe["event_id"] == "rc_12345678-1234-1234-1234-123456789012"


def test_revenuecat_test_event_is_acknowledged_and_skipped(client: TestClient, router: respx.Router) -> None:
    answer = client.post(
        "/v1/postbacks/revenuecat", json={"event": {"type": "TEST", "id": "t"}}, headers={"Authorization": "rc-key"}
    )
    assert answer.status_code == 200 and answer.json()["skipped"] == "RevenueCat test event"


def test_generic_source_from_a_field_table(client: TestClient, router: respx.Router) -> None:
    body = {
        "type": "PURCHASE",
        "id": "g-1",
        "ts": 1795300000,
        "customer": {"email": "X@Example.com"},
        "amount": "12.50",
        "cur": "eur",
    }
    answer = client.post("/v1/postbacks/partner", json=body, headers={"Authorization": "Bearer partner-key"})
    assert answer.status_code == 202, answer.text
    [event] = sent(router)
    assert (event["event"], event["event_id"], event["user"]["email"]) == ("Purchase", "g-1", [sha("x@example.com")])
    assert event["properties"] == {"value": 12.5, "currency": "EUR"}


def test_the_same_purchase_from_sdk_and_platform_is_sent_once(client: TestClient, router: respx.Router) -> None:
    sdk_event = {
        "event_id": "sdk-evt-1",
        "event": "PURCHASE",
        "timestamp": 1499892854966,
        "app": {"id": "com.example.app"},
        "properties": {"value": 180.2, "currency": "USD", "order_id": "trans_Id_1232343434"},
    }
    assert (
        client.post("/v1/events", json=sdk_event, headers={"Authorization": "Bearer sdk-key"}).json()["accepted"] == 1
    )
    platform = client.post("/v1/postbacks/branch", json=BRANCH_PURCHASE, headers={"Authorization": "branch-key"})
    assert platform.json()["duplicates"] == 1
    [only] = sent(router)
    assert only["event_id"] == "sdk-evt-1"  # the sender's, not the order id


def test_postback_auth_ip_and_errors(client: TestClient) -> None:
    assert client.post("/v1/postbacks/appsflyer", json=APPSFLYER_PURCHASE).status_code == 401
    assert (
        client.post(
            "/v1/postbacks/appsflyer", json=APPSFLYER_PURCHASE, headers={"Authorization": "adjust-key"}
        ).status_code
        == 401
    )  # another source's key
    assert client.post("/v1/postbacks/nope", json={}).status_code == 404
    assert (
        client.post("/v1/postbacks/ios_app", json={}, headers={"Authorization": "Bearer sdk-key"}).status_code == 404
    )  # an SDK source takes /v1/events
    walled = client.post("/v1/postbacks/walled", json={"type": "X", "ts": 1}, headers={"Authorization": "walled-key"})
    assert walled.status_code == 403
    missing = client.post(
        "/v1/postbacks/appsflyer", json={"event_time": "2020-01-15 14:57:24.898"}, headers={"Authorization": KEY}
    )
    assert missing.status_code == 422 and missing.json()["field"] == "event_name"
    assert client.post("/v1/postbacks/appsflyer", content=b"{", headers={"Authorization": KEY}).status_code == 400
    assert ACCESS_TOKEN not in missing.text


@pytest.mark.parametrize(
    ("source", "key", "body", "field"),
    [
        ("appsflyer", KEY, {**APPSFLYER_PURCHASE, "event_value": 5}, "event_value"),
        ("appsflyer", KEY, {**APPSFLYER_PURCHASE, "event_value": [1, 2]}, "event_value"),
        ("appsflyer", KEY, {**APPSFLYER_PURCHASE, "event_value": True}, "event_value"),
        ("appsflyer", KEY, {**APPSFLYER_PURCHASE, "event_value": "[1, 2]"}, "event_value"),
        ("appsflyer", KEY, {**APPSFLYER_PURCHASE, "event_value": '{"af_revenue": '}, "event_value"),
        ("appsflyer", KEY, {**APPSFLYER_PURCHASE, "event_value": "[" * 5000}, "event_value"),
        ("adjust", "adjust-key", {**ADJUST_PURCHASE, "created_at": {"at": 1}}, "created_at"),
        ("adjust", "adjust-key", {**ADJUST_PURCHASE, "created_at": [1404214665]}, "created_at"),
        ("adjust", "adjust-key", {**ADJUST_PURCHASE, "created_at": "1e400"}, "created_at"),
        ("adjust", "adjust-key", {**ADJUST_PURCHASE, "created_at": "nan"}, "created_at"),
        ("adjust", "adjust-key", {**ADJUST_PURCHASE, "revenue_float": None, "revenue": {"cents": 1}}, "revenue"),
        ("adjust", "adjust-key", {**ADJUST_PURCHASE, "revenue_float": None, "revenue": [345]}, "revenue"),
        ("adjust", "adjust-key", {**ADJUST_PURCHASE, "installed_at": ["x"]}, "installed_at"),
    ],
)
def test_platform_fields_of_the_wrong_shape_are_a_422_naming_the_field(
    client: TestClient, source: str, key: str, body: dict[str, Any], field: str
) -> None:
    """Before: a number or list in AppsFlyer's event_value, an object or list in Adjust's times or revenue: 500."""
    answer = client.post(f"/v1/postbacks/{source}", json=body, headers={"Authorization": key})
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["error"] == "invalid_postback" and answer.json()["field"] == field


@pytest.mark.parametrize(
    ("source", "key", "body", "field"),
    [
        (
            "branch",
            "branch-key",
            b'{"name": "PURCHASE", "timestamp": 1499892854966, "id": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            "id",
        ),
        (
            "partner",
            "partner-key",
            b'{"type": "X", "ts": 1, "amount": ' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}",
            "amount",
        ),
        (
            "appsflyer",
            KEY,
            json.dumps({**APPSFLYER_PURCHASE, "event_value": '{"af_revenue":' + "[" * 900 + "]" * 900 + "}"}).encode(),
            "event_value.af_revenue",
        ),
        ("revenuecat", "rc-key", b'{"event": {"type": "RENEWAL\\u0000", "event_timestamp_ms": 1}}', "event.type"),
    ],
)
def test_deep_or_nul_postback_payloads_are_a_422_naming_the_field(
    client: TestClient, source: str, key: str, body: bytes, field: str
) -> None:
    """Before: a deep value in any field a platform adapter reads (Branch `id`, a generic field) answered 500."""
    answer = client.post(f"/v1/postbacks/{source}", content=body, headers={"Authorization": key})
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["error"] == "invalid_postback" and answer.json()["field"].startswith(field)


def test_adjust_and_branch_names_chosen_by_people_match_rules(client: TestClient, router: respx.Router) -> None:
    """Adjust's event_name and Branch's custom names are typed in their dashboards: `Start Trial`, `start-trial`."""
    adjust = {**ADJUST_PURCHASE, "event_name": "Start Trial", "key": "adjust-key"}
    assert client.get("/v1/postbacks/adjust?" + urlencode(adjust)).status_code == 202
    branch = {**BRANCH_PURCHASE, "id": "2", "name": "start-trial"}
    answer = client.post("/v1/postbacks/branch", json=branch, headers={"Authorization": "Bearer branch-key"})
    assert answer.status_code == 202, answer.text
    assert [event["event"] for event in sent(router, 2)] == ["StartTrial", "StartTrial"]

"""RevenueCat's webhooks (`revenuecat.py`), from its documented samples to the exact TikTok body."""

from __future__ import annotations

import respx
from starlette.testclient import TestClient

from tests.unit.postbacks.conftest import sent, sha

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

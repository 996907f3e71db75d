"""Adjust's event callbacks (`adjust.py`), from its documented placeholders to the exact TikTok body."""

from __future__ import annotations

from urllib.parse import urlencode

import respx
from starlette.testclient import TestClient

from tests.unit.postbacks.conftest import ADJUST_PURCHASE, sent, sha


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

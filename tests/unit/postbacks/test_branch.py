"""Branch's webhooks (`branch.py`), from its documented v2 PURCHASE example to the exact TikTok body."""

from __future__ import annotations

import respx
from starlette.testclient import TestClient

from tests.unit.postbacks.conftest import BRANCH_PURCHASE, sent, sha


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

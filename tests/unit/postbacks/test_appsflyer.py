"""AppsFlyer's Push API postbacks (`appsflyer.py`), from its documented example to the exact TikTok body."""

from __future__ import annotations

import respx
from starlette.testclient import TestClient

from tests.unit.postbacks.conftest import APPSFLYER_PURCHASE, KEY, sent, sha


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

"""Planning (`planning.py`): which destinations an event goes to and which drop it, and the order claims that send
one purchase once whichever source reports it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import respx
from starlette.testclient import TestClient

from tests.conftest import (
    AUTH,
    TRACK_URL,
    event,
    make_settings,
    open_client,
    sent_bodies,
    stats_of,
    tiktok_answer,
    wait_for,
)

# One purchase, one send, and no source can suppress another's: the real app over ASGI on a real SQLite file and on
# PostgreSQL, TikTok scripted behind the transport (issue 12 item 2, issue 13 item 2).
APP_ID, PIXEL = "7301234567890123456", "CPIXEL0000000000000"
ADMIN = {"Authorization": "Bearer order-admin-token"}
SDK = {"Authorization": "Bearer sdk-key"}
TRANSACTION = "GPA.3372-4150-8203-17209"


@pytest.fixture
def router() -> respx.Router:
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda request: tiktok_answer(0, "OK"))
    return router


@pytest.fixture
def client(tmp_path: Path, store_url: str, router: respx.Router) -> Iterator[TestClient]:
    platform = {"app_id": "com.example.app", "destinations": ["app_main"]}
    settings = make_settings(
        tmp_path,
        admin_token="order-admin-token",
        store={"url": store_url},
        sources={
            # The app and RevenueCat report the same purchases: each names the other.
            "ios_app": {"keys": ["sdk-key"], "dedup_orders_with": ["revenuecat"]},
            "revenuecat": {**platform, "kind": "revenuecat", "keys": ["rc-key"], "dedup_orders_with": ["ios_app"]},
            # Named by no one: whatever it reports, it cannot make another source's purchase a duplicate.
            "appsflyer": {**platform, "kind": "appsflyer", "keys": ["af-key"]},
        },
        destinations={
            "app_main": {"event_source": "app", "event_source_id": APP_ID, "access_token": "app-token"},
            "web_main": {
                "event_source": "web",
                "event_source_id": PIXEL,
                "access_token": "web-token",
                "mapping": "web",
                "page_url": "https://shop.example.com/checkout",
            },
        },
    )
    with open_client(settings, router) as client:
        yield client


def sdk_purchase(event_id: str, value: float = 4.99, event: str = "PURCHASE") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event": event,
        "timestamp": int(time.time()),
        "app": {"id": "com.example.app", "platform": "android"},
        "user": {"external_id": "u-42"},
        "properties": {"value": value, "currency": "USD", "order_id": TRANSACTION},
    }


def revenuecat(kind: str, price: float) -> dict[str, Any]:
    return {
        "api_version": "1.0",
        "event": {
            "type": kind,
            "id": "rc-event-1",
            "event_timestamp_ms": int(time.time() * 1000),
            "app_user_id": "u-42",
            "product_id": "coins_100",
            "period_type": "NORMAL",
            "environment": "PRODUCTION",
            "store": "PLAY_STORE",
            "transaction_id": TRANSACTION,
            "price": price,
            "currency": "USD",
            "price_in_purchased_currency": price,
        },
    }


def appsflyer_purchase() -> dict[str, Any]:
    return {
        "event_name": "af_purchase",
        "event_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000"),
        "app_id": "com.example.app",
        "platform": "android",
        "appsflyer_id": "1547985076649-5309999",
        "event_revenue": "0.01",
        "event_revenue_currency": "USD",
        "event_value": json.dumps({"af_order_id": TRANSACTION}),
        "media_source": "tiktokglobal_int",
    }


def delivered(router: respx.Router, event_source_id: str = APP_ID) -> list[dict[str, Any]]:
    bodies = [json.loads(call.request.content) for call in router.calls]
    return [item for body in bodies if body["event_source_id"] == event_source_id for item in body["data"]]


def settled(client: TestClient, destination: str = "app_main") -> dict[str, Any]:
    """The destination's figures once nothing is pending or in flight any more."""
    figures: dict[str, Any] = {}

    def done() -> bool:
        figures.update(client.get("/v1/stats", headers=ADMIN).json()["destinations"][destination])
        return figures["pending"] == 0 and figures["in_flight"] == 0

    wait_for(done)
    return figures


def test_a_source_no_one_names_cannot_suppress_a_purchase_with_the_same_transaction_id(
    client: TestClient, router: respx.Router
) -> None:
    """AppsFlyer reports the transaction first (with a bogus value); the app's real purchase still goes out."""
    first = client.post("/v1/postbacks/appsflyer", json=appsflyer_purchase(), headers={"Authorization": "af-key"})
    assert first.json()["accepted"] == 1
    real = client.post("/v1/events", json=sdk_purchase("sdk-purchase-1"), headers=SDK)
    assert (real.status_code, real.json()["accepted"], real.json()["duplicates"]) == (202, 1, 0)
    figures = settled(client)
    sent = {item["event_id"]: item["properties"]["value"] for item in delivered(router)}
    assert sent.get("sdk-purchase-1") == 4.99  # the real purchase, under its own event_id
    assert len(sent) == 2 and next(e for e in sent if e != "sdk-purchase-1").startswith("af_")
    assert (figures["delivered"], figures["order_duplicates"], figures["order_conflicts"]) == (2, 0, 0)


def test_the_app_and_revenuecat_reporting_one_purchase_send_it_once(client: TestClient, router: respx.Router) -> None:
    assert client.post("/v1/events", json=sdk_purchase("sdk-purchase-2"), headers=SDK).json()["accepted"] == 1
    platform = client.post(
        "/v1/postbacks/revenuecat", json=revenuecat("NON_RENEWING_PURCHASE", 4.99), headers={"Authorization": "rc-key"}
    )
    assert (platform.status_code, platform.json()["duplicates"]) == (202, 1)
    figures = settled(client)
    assert [item["event_id"] for item in delivered(router)] == ["sdk-purchase-2"]
    assert (figures["delivered"], figures["order_duplicates"]) == (1, 1)
    [match] = client.get("/v1/events/rc_rc-event-1", headers=ADMIN).json()["orders"]
    assert (match["kind"], match["first_event_id"], match["first_source"]) == ("duplicate", "sdk-purchase-2", "ios_app")


def test_a_report_of_the_same_order_with_another_value_is_held_counted_and_shown(
    client: TestClient, router: respx.Router
) -> None:
    assert client.post("/v1/events", json=sdk_purchase("sdk-purchase-3"), headers=SDK).json()["accepted"] == 1
    platform = client.post(
        "/v1/postbacks/revenuecat", json=revenuecat("NON_RENEWING_PURCHASE", 9.99), headers={"Authorization": "rc-key"}
    )
    assert platform.status_code == 202
    assert platform.json()["accepted"] == platform.json()["duplicates"] == 0
    [held] = platform.json()["held"]
    assert held == {"index": 0, "event_id": "rc_rc-event-1", "reason": "order_conflict", "destinations": ["app_main"]}
    figures = settled(client)
    assert [item["event_id"] for item in delivered(router)] == ["sdk-purchase-3"]  # counted once, not lost
    assert (figures["delivered"], figures["order_conflicts"], figures["held"]) == (1, 1, 1)

    for event_id in ("sdk-purchase-3", "rc_rc-event-1"):
        [conflict] = client.get(f"/v1/events/{event_id}", headers=ADMIN).json()["orders"]
        assert (conflict["kind"], conflict["status"], conflict["order_id"]) == ("conflict", "held", TRANSACTION)
        assert (conflict["first_source"], conflict["source"]) == ("ios_app", "revenuecat")
        assert conflict["differs"] == "value 4.99 -> 9.99"
    metrics = client.get("/metrics", headers=ADMIN).text
    assert 'forwarder_order_conflicts_total{destination="app_main"} 1.0' in metrics
    assert 'forwarder_held_events{destination="app_main"} 1.0' in metrics
    page = client.get("/", headers=ADMIN).text
    table = page[page.index('<table id="order-conflicts">') :]
    table = table[: table.index("</table>")]
    assert TRANSACTION in table and "value 4.99 -&gt; 9.99" in table and "revenuecat" in table and "held" in table


def test_a_web_destination_receives_the_senders_event_id(client: TestClient, router: respx.Router) -> None:
    """TikTok deduplicates the pixel's and the server's report of one purchase on event_id."""
    assert client.post("/v1/events", json=sdk_purchase("pixel-evt-77"), headers=SDK).json()["accepted"] == 1
    settled(client, "web_main")
    [item] = delivered(router, PIXEL)
    assert (item["event"], item["event_id"], item["properties"]["order_id"]) == (
        "Purchase",
        "pixel-evt-77",
        TRANSACTION,
    )


def test_an_event_without_a_lead_id_is_not_sent_to_crm_and_is_counted(app: TestClient, tiktok: respx.Router) -> None:
    """TikTok requires lead.lead_id on crm events: the offline destination still gets the event."""
    assert app.post("/v1/events", json=event(event="PURCHASE"), headers=AUTH).status_code == 202
    wait_for(lambda: stats_of(app, "shop")["delivered"] == 1)
    assert [body["event_source"] for body in sent_bodies(tiktok)] == ["offline"]
    assert stats_of(app, "leads")["no_lead_id"] == 1

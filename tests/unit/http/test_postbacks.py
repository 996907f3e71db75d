"""`GET|POST /v1/postbacks/{source}` (`postbacks.py`): who may post to which source, payloads of the wrong shape named,
one purchase sent once when the SDK and a platform both report it, names typed by people matched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import respx
from starlette.testclient import TestClient

from tests.conftest import ACCESS_TOKEN
from tests.unit.postbacks.conftest import (
    ADJUST_PURCHASE,
    APPSFLYER_PURCHASE,
    BRANCH_PURCHASE,
    KEY,
    accepting_router,
    postback_client,
    sent,
)


@pytest.fixture
def router() -> respx.Router:
    return accepting_router()


@pytest.fixture
def client(tmp_path: Path, router: respx.Router) -> Iterator[TestClient]:
    """The postback tests' app (tests/unit/postbacks/conftest.py)."""
    with postback_client(tmp_path, router) as client:
        yield client


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

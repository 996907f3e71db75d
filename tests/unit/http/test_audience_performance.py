"""`GET /v1/audiences/{name}/performance` over ASGI on a real SQLite store, and the control group of a live rule as
the real ingest path records it: events posted to `/v1/events`, the hold-out read back from the store's figures."""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import respx
from starlette.testclient import TestClient

from forwarder.audiences.assignment import assign
from forwarder.audiences.performance import CSV_COLUMNS
from forwarder.store.sqlite.writer.audiences import user_key
from forwarder.store.sqlite.writer.holdout import audience_secret
from tests.conftest import AUTH, event, make_settings, open_client

ADMIN = {"Authorization": "Bearer admin-secret"}
ADVERTISER = "7002238017842757633"
USERS = range(60)
SHARE = 0.4


@pytest.fixture
def lift_client(tmp_path: Path, tiktok: respx.Router) -> TestClient:
    audiences = {
        "trial": {"advertiser_id": ADVERTISER, "enter": {"event": "START_TRIAL"}, "holdout_share": SHARE,
                  "goal": {"event": "PURCHASE", "within_days": 14}},
        "plain": {"advertiser_id": ADVERTISER, "enter": {"event": "START_TRIAL"}},
    }  # fmt: skip
    settings = make_settings(
        tmp_path, admin_token="admin-secret", audiences=audiences, audience_sync={"enabled": False}
    )
    return open_client(settings, tiktok)


def address(i: int) -> str:
    return f"user{i}@example.com"


def user_event(name: str, i: int, **overrides: Any) -> dict[str, Any]:
    """User `i`, known by email only (a shared device id would make every event one user)."""
    fields: dict[str, Any] = {"event_id": f"{name}-{i}", "user": {"email": address(i)}, **overrides}
    return event(event=name, device={"att_status": "AUTHORIZED"}, **fields)


def key_of(i: int) -> str:
    return user_key({"email": hashlib.sha256(address(i).encode()).hexdigest()})


def control_group() -> set[int]:
    """Who the keyed hash holds out of `trial`, from each user's ledger key (their hashed email)."""
    keys = {key_of(i): i for i in USERS}
    return {keys[k] for k in assign(audience_secret("trial", None), "trial", keys, control_share=SHARE).control}


def post_all(client: TestClient, events: list[dict[str, Any]]) -> None:
    answer = client.post("/v1/events", json={"events": events}, headers=AUTH)
    assert answer.status_code == 202 and not answer.json().get("rejected"), answer.text


def test_live_signals_hold_out_the_keyed_users_on_the_ingest_path(lift_client: TestClient, tmp_path: Path) -> None:
    control = control_group()
    assert 0 < len(control) < len(USERS)
    with lift_client as client:
        post_all(client, [user_event("START_TRIAL", i) for i in USERS])
        post_all(client, [user_event("START_TRIAL", i, event_id=f"again-{i}") for i in USERS])  # again: no redraw
        trial = client.get("/v1/audiences/trial", headers=ADMIN).json()
        assert (trial["held_out"], trial["members"], trial["pending"]) == (
            len(control), len(USERS) - len(control), len(USERS) - len(control),
        )  # fmt: skip
        assert trial["not_synced"] == 0  # the control group is apart from consent and missing identifiers
        plain = client.get("/v1/audiences/plain", headers=ADMIN).json()
        assert (plain["held_out"], plain["members"]) == (0, len(USERS))
    # Who exactly, as the store holds them: the control group is the keyed hash's, the rest are members to send.
    with sqlite3.connect(f"file:{tmp_path / 'forwarder.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT user_key, state, held FROM audience_members WHERE audience = 'trial'").fetchall()
    keys = {key_of(i): i for i in USERS}
    assert {keys[key] for key, state, held in rows if state == "in" and held == "control_group"} == control
    assert {keys[key] for key, state, held in rows if state == "in" and held is None} == set(USERS) - control


def test_performance_as_json_csv_and_its_refusals(lift_client: TestClient) -> None:
    control = control_group()
    bought = sorted(control)[:3]
    now = int(time.time())
    with lift_client as client:
        post_all(client, [user_event("START_TRIAL", i, timestamp=now - 60) for i in USERS])
        post_all(client, [user_event("PURCHASE", i, timestamp=now) for i in bought])

        assert client.get("/v1/audiences/trial/performance").status_code == 401
        document = client.get("/v1/audiences/trial/performance", headers=ADMIN).json()
        assert document["status"] == "not_enough_data" and "not enough data yet" in document["reason"]
        assert document["goal"] == {"event": "PURCHASE", "within_days": 14}
        # Nobody synced (the sync is off): no member has a window yet; the control group's started when they qualified.
        assert (document["members"]["users"], document["members"]["in_window"]) == (0, 0)
        assert (document["control"]["users"], document["control"]["in_window"]) == (0, len(control))
        funnel = document["funnel"]
        assert (funnel["sent"], funnel["held_out"], funnel["held_out_converted"]) == (0, len(control), len(bought))
        assert set(document["trends"]) == {"day", "week", "month"}

        answer = client.get("/v1/audiences/trial/performance?format=csv", headers=ADMIN)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert tuple(rows[0]) == CSV_COLUMNS
        summaries = {row[2]: row for row in rows[1:] if row[0] == "summary"}
        assert summaries["control"][3:5] == ["0", "0"]  # matured users, converted: none matured yet
        day_rows = [row for row in rows[1:] if row[0] == "day" and row[2] == "control"]
        assert sum(int(row[3]) for row in day_rows) == len(control)  # started, by day
        assert sum(int(row[4]) for row in day_rows) == len(bought)

        unknown = client.get("/v1/audiences/nope/performance", headers=ADMIN)
        assert unknown.status_code == 404 and unknown.json()["field"] == "name" and "trial" in unknown.json()["message"]
        wrong = client.get("/v1/audiences/trial/performance?format=xml", headers=ADMIN)
        assert wrong.status_code == 400 and wrong.json()["field"] == "format"
        plain = client.get("/v1/audiences/plain/performance", headers=ADMIN).json()
        assert plain["status"] == "no_goal" and "goal" in plain["reason"]


def test_prometheus_shows_the_control_group_and_each_groups_conversion_rate(
    tmp_path: Path, tiktok: respx.Router
) -> None:
    goal = {"event": "PURCHASE", "within_days": 0.0001}  # an 8.64 s window: events an hour old have matured
    audiences = {"trial": {"advertiser_id": ADVERTISER, "enter": {"event": "START_TRIAL"}, "holdout_share": SHARE,
                           "goal": goal}}  # fmt: skip
    settings = make_settings(
        tmp_path, admin_token="admin-secret", audiences=audiences, audience_sync={"enabled": False}
    )
    control = control_group()
    bought = sorted(control)[:4]
    hour_ago = int(time.time()) - 3600
    with open_client(settings, tiktok) as client:
        post_all(client, [user_event("START_TRIAL", i, timestamp=hour_ago) for i in USERS])
        post_all(client, [user_event("PURCHASE", i, timestamp=hour_ago + 2) for i in bought])
        metrics = client.get("/metrics", headers=ADMIN).text
    assert f'forwarder_audience_users{{audience="trial",figure="held_out"}} {float(len(control))}' in metrics
    assert 'forwarder_audience_users{audience="trial",figure="over_cap"} 0.0' in metrics
    rate = len(bought) / len(control)
    assert f'forwarder_audience_conversion_rate{{audience="trial",group="control"}} {rate}' in metrics
    assert 'forwarder_audience_conversion_rate{audience="trial",group="members"} NaN' in metrics  # none synced
    assert 'forwarder_audience_lift{audience="trial",figure="difference"} NaN' in metrics  # not enough data yet

"""The audience endpoints over ASGI on a real SQLite store: admin only, errors naming the field, forget erases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import respx
from starlette.testclient import TestClient

from tests.conftest import AUTH, event, make_settings, open_client

ADMIN = {"Authorization": "Bearer admin-secret"}
AUDIENCE = {"advertiser_id": "7002238017842757633", "enter": {"event": "START_TRIAL"}}


@pytest.fixture
def audience_client(tmp_path: Path, tiktok: respx.Router) -> TestClient:
    settings = make_settings(
        tmp_path, admin_token="admin-secret", audiences={"trial": AUDIENCE}, audience_sync={"enabled": False}
    )
    return open_client(settings, tiktok)


def test_audiences_need_the_admin_token(audience_client: TestClient) -> None:
    with audience_client as client:
        assert client.get("/v1/audiences").status_code == 401
        assert client.post("/v1/users/forget", json={"email": "a@example.com"}).status_code == 401


def test_an_event_enters_and_the_figures_show_it(audience_client: TestClient) -> None:
    with audience_client as client:
        assert client.post("/v1/events", json=event(event="START_TRIAL"), headers=AUTH).status_code == 202
        [listed] = client.get("/v1/audiences", headers=ADMIN).json()["audiences"]
        assert (listed["name"], listed["entered"], listed["members"], listed["pending"]) == ("trial", 1, 1, 1)
        assert listed["status"] == "not_created" and listed["size"]["now"] is None
        shown = client.get("/v1/audiences/trial", headers=ADMIN).json()
        assert shown["rules"]["enter"] == {"event": "START_TRIAL", "when": {}}
        missing = client.get("/v1/audiences/nope", headers=ADMIN)
        assert missing.status_code == 404 and missing.json()["field"] == "name"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"[1]", 422, "body"),
        (b"{", 400, "body"),
        (b"{}", 422, "body"),
        (b'{"email": "not an email"}', 422, "user.email"),
        (b'{"emial": "a@example.com"}', 422, "emial"),
        (b'{"idfa": 5}', 422, "idfa"),
        (b'{"phone": "' + b"1" * 20_000 + b'"}', 422, "body"),
    ],
)
def test_forget_refuses_what_names_nobody(audience_client: TestClient, body: bytes, status: int, field: str) -> None:
    with audience_client as client:
        headers = {**ADMIN, "Content-Type": "application/json"}
        answer = client.post("/v1/users/forget", content=body, headers=headers)
        assert (answer.status_code, answer.json()["field"]) == (status, field)


def test_forget_erases_a_member_that_tiktok_never_had(audience_client: TestClient) -> None:
    with audience_client as client:
        client.post("/v1/events", json=event(event="START_TRIAL", timestamp=int(time.time())), headers=AUTH)
        headers = {**ADMIN, "Content-Type": "application/json"}
        answer = client.post("/v1/users/forget", json={"email": event()["user"]["email"]}, headers=headers)
        assert answer.json() == {"users_found": 1, "removing_from_audiences": []}
        assert client.get("/v1/audiences/trial", headers=ADMIN).json()["members"] == 0

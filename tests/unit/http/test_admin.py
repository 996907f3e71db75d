"""Admin credential and cross-site rules, on a real `forwarder serve` with its embedded emulator."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from tests.configs import service_config
from tests.conftest import REPO, event, make_settings, open_client
from tests.processes import free_port, running

TOKEN = "admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
KEY = {"Authorization": "Bearer admin-test-key"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("admin")
    shutil.copytree(REPO / "mappings", tmp / "mappings")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = service_config(
        tmp / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        embedded_emulator=True,
        mappings_dir=tmp / "mappings",
        top_level={"admin_token": TOKEN},
        delivery={"poll_interval_s": 0.05},
        sources={"app": {"keys": ["admin-test-key"]}},
        destinations={"app": {"event_source": "app", "event_source_id": "111", "access_token": "t"}},
    )
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp / "serve.log"):
        yield base


def dead_count(base: str) -> int:
    count: int = httpx.get(f"{base}/v1/admin/dead", headers=ADMIN).json()["count"]
    return count


def test_a_cross_site_form_post_cannot_replay_dead_letters(served: str) -> None:
    """A page opened with cached Basic credentials posts a form to the replay route: refused, nothing replayed."""
    script = {"responses": [{"code": 40002, "message": "Invalid value for event_id: not a valid string."}]}
    assert httpx.post(f"{served}/_emulator/_control/script", json=script, headers=ADMIN).status_code == 200
    assert httpx.post(f"{served}/v1/events", json=event(event_id="dead-1"), headers=KEY).status_code == 202
    deadline = time.monotonic() + 10
    while dead_count(served) < 1:
        assert time.monotonic() < deadline, "the event was never dead-lettered"
        time.sleep(0.05)
    replay = f"{served}/v1/admin/dead/replay"
    basic = ("admin", TOKEN)
    form = {"Content-Type": "text/plain", "Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}
    forged = httpx.post(replay, auth=basic, headers=form, content=b"")  # <form enctype="text/plain"> with no field
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"] == "cross_site_request" and forged.json()["field"] == "Origin"
    urlencoded = httpx.post(replay, auth=basic, data={"event": "StartTrial"})  # a browser that sends no Origin
    assert urlencoded.status_code == 415 and urlencoded.json()["field"] == "Content-Type"
    fetched = httpx.post(replay, auth=basic, json={}, headers={"Origin": "http://127.0.0.1:1"})  # another origin
    assert fetched.status_code == 403
    assert dead_count(served) == 1  # nothing was replayed
    same_origin = httpx.post(
        replay, auth=basic, json={"all": True}, headers={"Origin": served, "Sec-Fetch-Site": "same-origin"}
    )
    assert same_origin.json() == {"replayed": 1}  # the route itself works for a request that is not forged


def test_the_embedded_emulator_control_routes_need_the_admin_token(served: str) -> None:
    control = f"{served}/_emulator/_control/events"
    refused = httpx.get(control)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert httpx.get(control, headers=KEY).status_code == 401
    assert httpx.post(f"{served}/_emulator/_control/reset", json={}).status_code == 401
    assert httpx.get(control, headers=ADMIN).status_code == 200


def test_admin_posts_need_a_json_content_type(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_token=TOKEN, delivery={"enabled": False})
    with open_client(settings, respx.Router()) as client:
        bare = client.post("/v1/admin/reload", headers=ADMIN)
        assert bare.status_code == 415 and bare.json()["error"] == "unsupported_media_type"
        assert client.post("/v1/admin/reload", headers=ADMIN, json={}).status_code == 200
        charset = {**ADMIN, "Content-Type": "application/json; charset=utf-8"}
        assert client.post("/v1/admin/reload", headers=charset, content=b"{}").status_code == 200
        assert client.post("/v1/admin/reload", json={}).status_code == 401  # the credential is checked first
        site = client.post("/v1/admin/reload", headers={**ADMIN, "Sec-Fetch-Site": "same-site"}, json={})
        assert site.status_code == 403  # a sibling subdomain is another origin
        assert client.post("/v1/admin/reload", headers={**ADMIN, "Origin": "null"}, json={}).status_code == 403
        assert client.get("/v1/admin/dead", headers={**ADMIN, "Sec-Fetch-Site": "cross-site"}).status_code == 200


ADMIN_ROUTES = [
    ("GET", "/"),
    ("GET", "/v1/stats"),
    ("GET", "/metrics"),
    ("GET", "/v1/events/evt-1"),
    ("GET", "/v1/admin/dead"),
    ("POST", "/v1/admin/dead/replay"),
    ("POST", "/v1/admin/reload"),
]


@pytest.mark.parametrize(
    "credential",
    [
        b"Basic \xc3\xa9\xff\xfe",  # raw bytes in the header, not base64 at all
        b"Basic " + base64.b64encode(b"admin:\xff\xfe"),  # base64 of a password that is not UTF-8
        b"Basic " + base64.b64encode(b"\xff"),
        b"Bearer \xff\x00",
    ],
)
def test_admin_credentials_that_are_not_utf8_are_a_401_on_every_admin_route(tmp_path: Path, credential: bytes) -> None:
    """Before: `Authorization: Basic` with non-ASCII bytes answered 500 on every admin route, with no key."""
    settings = make_settings(tmp_path, admin_token="admin-token-1", delivery={"enabled": False})
    with open_client(settings, respx.Router()) as client:
        for method, path in ADMIN_ROUTES:
            answer = client.request(method, path, headers={"Authorization": credential})  # type: ignore[dict-item]
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.json()["error"] == "unauthorized"

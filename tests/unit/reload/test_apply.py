"""Hot reload: edited mappings and destinations apply to the next event; an invalid edit is refused whole."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from forwarder.app import create_app
from forwarder.settings import load_settings
from tests.configs import service_config
from tests.conftest import REPO, TRACK_URL, event, tiktok_answer, wait_for

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
KEY = {"Authorization": "Bearer reload-key"}


def write_config(tmp_path: Path, token: str = "token-one", watch: bool = False) -> Path:
    return service_config(
        tmp_path / "config.toml",
        store_url=f"sqlite:///{tmp_path / 'forwarder.db'}",
        tiktok_url="https://tiktok.test",
        mappings_dir=tmp_path / "mappings",
        watch_config=watch,
        top_level={"admin_token": "admin-token-for-tests"},
        delivery={
            "poll_interval_s": 0.05,
            "pause_probe_base_s": 0.05,
            "pause_probe_cap_s": 0.1,
            "timeout_s": 2,
            "lease_s": 6,
        },
        sources={"app": {"keys": ["reload-key"]}},
        destinations={"main": {"event_source": "app", "event_source_id": "111", "access_token": token}},
    )


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    return write_config(tmp_path)


def start(config: Path, router: respx.Router) -> TestClient:
    app = create_app(load_settings(config), transport=httpx.MockTransport(router.async_handler), config_file=config)
    return TestClient(app)


def accepting_router() -> respx.Router:
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda request: tiktok_answer(0, "OK"))
    return router


def sent_names(router: respx.Router) -> list[str]:
    return [d["event"] for call in router.calls for d in json.loads(call.request.content)["data"]]


def test_an_edited_table_applies_to_the_next_event(setup: Path) -> None:
    router = accepting_router()
    with start(setup, router) as client:
        client.post("/v1/events", json=event(event_id="before"), headers=KEY)
        wait_for(lambda: sent_names(router) == ["StartTrial"])
        (setup.parent / "mappings" / "default.toml").write_text('[events]\nSTART_TRIAL = "Subscribe"\n')
        answer = client.post("/v1/admin/reload", headers=ADMIN, json={})
        assert answer.status_code == 200 and answer.json()["ok"] is True
        client.post("/v1/events", json=event(event_id="after"), headers=KEY)
        wait_for(lambda: sent_names(router) == ["StartTrial", "Subscribe"])
        status = client.get("/v1/stats", headers=ADMIN).json()["config"]
        assert status["last_reload"]["trigger"] == "admin_api"
        assert status["mappings"]["default"] != answer.json()["mappings"]["web"]


def test_an_invalid_edit_is_refused_and_the_old_table_keeps_serving(setup: Path) -> None:
    router = accepting_router()
    with start(setup, router) as client:
        before = client.get("/v1/stats", headers=ADMIN).json()["config"]["mappings"]
        bad = setup.parent / "mappings" / "default.toml"
        bad.write_text('[events]\nSTART_TRIAL = "Subscribe"\nPURCHASE = { event = "Purchase", when = 3 }\n')
        answer = client.post("/v1/admin/reload", headers=ADMIN, json={})
        assert answer.status_code == 422
        [problem] = answer.json()["problems"]
        assert problem == {
            "level": "error",
            "file": str(bad),
            "key": "events.PURCHASE.when",
            "reason": "must map dotted paths to the values they must have",
        }
        client.post("/v1/events", json=event(), headers=KEY)
        wait_for(lambda: sent_names(router) == ["StartTrial"])  # not half-new: the whole edit was refused
        config = client.get("/v1/stats", headers=ADMIN).json()["config"]
        assert config["mappings"] == before
        assert config["last_reload"]["ok"] is False
        assert config["last_reload"]["problems"][0]["key"] == "events.PURCHASE.when"


def test_a_file_change_is_picked_up_by_the_watcher(tmp_path: Path) -> None:
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    config = write_config(tmp_path, watch=True)
    router = accepting_router()
    with start(config, router) as client:
        time.sleep(0.3)  # let the watcher start
        (tmp_path / "mappings" / "default.toml").write_text('[events]\nSTART_TRIAL = "Subscribe"\n')

        def reloaded() -> bool:
            last = client.get("/v1/stats", headers=ADMIN).json()["config"]["last_reload"]
            return bool(last and last["trigger"] == "file_change" and last["ok"])

        wait_for(reloaded)
        client.post("/v1/events", json=event(), headers=KEY)
        wait_for(lambda: sent_names(router) == ["Subscribe"])


def test_a_new_token_in_the_config_resumes_a_paused_destination(setup: Path) -> None:
    router = respx.Router()

    def tiktok(request: httpx.Request) -> httpx.Response:
        if request.headers["Access-Token"] == "token-one":
            return tiktok_answer(40105, "Access token is incorrect or has been revoked.")
        return tiktok_answer(0, "OK")

    router.post(TRACK_URL).mock(side_effect=tiktok)
    with start(setup, router) as client:
        client.post("/v1/events", json=event(), headers=KEY)
        wait_for(lambda: client.get("/v1/stats", headers=ADMIN).json()["destinations"]["main"]["state"] == "paused")
        write_config(setup.parent, token="token-two")
        assert client.post("/v1/admin/reload", headers=ADMIN, json={}).json()["ok"]

        def delivered() -> bool:
            main = client.get("/v1/stats", headers=ADMIN).json()["destinations"]["main"]
            return bool(main["delivered"] == 1 and main["state"] == "active")

        wait_for(delivered)
        assert "token-two" not in client.get("/v1/stats", headers=ADMIN).text


def test_admin_endpoints_need_the_admin_token(setup: Path) -> None:
    with start(setup, accepting_router()) as client:
        assert client.post("/v1/admin/reload").status_code == 401
        assert client.post("/v1/admin/reload", headers=KEY).status_code == 401
        assert client.post("/v1/admin/reload", auth=("admin", "admin-token-for-tests"), json={}).status_code == 200


def test_restart_only_settings_are_kept_and_reported(setup: Path) -> None:
    with start(setup, accepting_router()) as client:
        setup.write_text(setup.read_text().replace("[store]", "[server]\nport = 9999\n[store]"))
        outcome = client.post("/v1/admin/reload", headers=ADMIN, json={}).json()
        assert outcome["ok"] and outcome["needs_restart"] == ["server"]


def test_without_admin_token_admin_endpoints_are_off(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path), transport=httpx.MockTransport(accepting_router().async_handler))
    with TestClient(app) as client:
        assert client.post("/v1/admin/reload").status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"force": "yes"}', "force"),
        (b'{"force": 1}', "force"),
        (b"force", "(body)"),
        (b'{"force": true, "x": 1}', "(body)"),
        (b"[true]", "(body)"),
    ],
)
def test_the_force_flag_must_be_a_boolean(setup: Path, body: bytes, field: str) -> None:
    with start(setup, accepting_router()) as client:
        answer = client.post("/v1/admin/reload", content=body, headers={**ADMIN, "Content-Type": "application/json"})
        assert answer.status_code == 400
        assert answer.json()["field"] == field
        assert client.get("/v1/stats", headers=ADMIN).json()["config"]["last_reload"] is None  # nothing attempted


def test_a_forced_reload_says_what_it_stopped_mapping(setup: Path) -> None:
    with start(setup, accepting_router()) as client:
        assert client.post("/v1/events", json=event(), headers=KEY).status_code == 202
        (setup.parent / "mappings" / "default.toml").write_text('[events]\nPURCHASE = "Purchase"\n')
        refused = client.post("/v1/admin/reload", headers=ADMIN, json={})
        assert refused.status_code == 409 and refused.json()["dropped"][0]["names"] == ["START_TRIAL"]
        forced = client.post("/v1/admin/reload", json={"force": True}, headers=ADMIN)
        assert forced.status_code == 200
        assert forced.json()["force"] is True and forced.json()["dropped"][0]["names"] == ["START_TRIAL"]


def test_a_reload_that_would_put_a_placeholder_live_is_refused(setup: Path) -> None:
    """What `forwarder check` and `serve` refuse cannot go live by a reload either."""
    router = accepting_router()
    with start(setup, router) as client:
        setup.write_text(setup.read_text().replace('event_source_id = "111"', 'event_source_id = "com.example.app"'))
        answer = client.post("/v1/admin/reload", headers=ADMIN, json={})
        assert answer.status_code == 422
        [problem] = answer.json()["problems"]
        assert (problem["key"], problem["reason"][:47]) == (
            "destinations.main.event_source_id",
            "'com.example.app' looks like a store app id (pa",
        )
        client.post("/v1/events", json=event(), headers=KEY)
        wait_for(lambda: sent_names(router) == ["StartTrial"])
        assert json.loads(router.calls[0].request.content)["event_source_id"] == "111"

"""Dead letters: listed and replayed by destination, time, TikTok code or event name; replay keeps the event_id."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import respx

from forwarder.cli import main
from tests.configs import service_config
from tests.conftest import AUTH, TRACK_URL, event, make_settings, open_client, stats_of, tiktok_answer, wait_for

ADMIN = {"Authorization": "Bearer dead-admin"}


def test_dead_letters_are_listed_filtered_and_replayed(tmp_path: Path) -> None:
    poisoned = {"d-1", "d-2"}
    fixed = False

    def tiktok(request: httpx.Request) -> httpx.Response:
        ids = {d["event_id"] for d in json.loads(request.content)["data"]}
        if ids & poisoned and not fixed:
            return tiktok_answer(40002, "Invalid value for properties.value.", request_id="req-dead")
        return tiktok_answer(0, "OK", request_id="req-ok")

    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=tiktok)
    settings = make_settings(tmp_path, admin_token="dead-admin")
    with open_client(settings, router) as client:
        client.post(
            "/v1/events",
            json={"events": [event(event_id="d-1"), event(event_id="d-2", event="PURCHASE"), event(event_id="fine")]},
            headers=AUTH,
        )

        def dead_count() -> int:
            return int(client.get("/v1/stats", headers=ADMIN).json()["destinations"]["app_main"]["dead"])

        wait_for(lambda: dead_count() == 2)
        listed = client.get("/v1/admin/dead", headers=ADMIN).json()
        assert listed["count"] == 2
        assert {d["event_id"] for d in listed["dead_letters"]} == {"d-1", "d-2"}
        assert listed["dead_letters"][0]["request_id"] == "req-dead"
        assert client.get("/v1/admin/dead?event=Purchase", headers=ADMIN).json()["count"] == 1
        assert client.get("/v1/admin/dead?tiktok_code=40100", headers=ADMIN).json()["count"] == 0
        assert client.get("/v1/admin/dead?destination=other", headers=ADMIN).json()["count"] == 0
        future = int(time.time()) + 3600
        assert client.get(f"/v1/admin/dead?since={future}", headers=ADMIN).json()["count"] == 0
        bad = client.get("/v1/admin/dead?since=someday", headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["field"] == "since"
        assert client.get("/v1/admin/dead", headers=AUTH).status_code == 401

        fixed = True
        replay = client.post("/v1/admin/dead/replay", json={"event": "StartTrial"}, headers=ADMIN)
        assert replay.json() == {"replayed": 1}
        wait_for(lambda: client.get("/v1/admin/dead", headers=ADMIN).json()["count"] == 1)
        wait_for(lambda: client.get("/v1/stats", headers=ADMIN).json()["destinations"]["app_main"]["delivered"] == 2)
    sent = [d["event_id"] for call in router.calls for d in json.loads(call.request.content)["data"]]
    assert sent.count("d-1") >= 2  # the same event_id went again


def test_cli_lists_and_replays_dead_letters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda r: tiktok_answer(40002, "bad", request_id="req-x"))
    settings = make_settings(tmp_path)
    with open_client(settings, router) as client:
        client.post("/v1/events", json=event(event_id="cli-1"), headers=AUTH)
        wait_for(lambda: stats_of(client)["dead"] == 1)
    config = service_config(
        tmp_path / "config.toml", mappings_dir=settings.mappings_dir, watch_config=None, store_url=settings.store.url
    )
    assert main(["dead", "list", "--config", str(config), "--tiktok-code", "40002"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["dead_letters"][0]["event_id"] == "cli-1"
    assert main(["dead", "replay", "--config", str(config), "--since", "2020-01-01T00:00:00Z"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replayed": 1}
    assert main(["dead", "list", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0
    assert main(["dead", "list", "--config", str(config), "--limit", "0"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=" + "9" * 23, "limit"),
        ("tiktok_code=" + "9" * 23, "tiktok_code"),
        ("tiktok_code=1e400", "tiktok_code"),
        ("tiktok_code=1.5", "tiktok_code"),
        ("since=1e400", "since"),
        ("until=NaN", "until"),
        ("until=" + "9" * 400, "until"),
        ("destination=app%00main", "destination"),
        ("event=" + "E" * 300, "event"),
        ("bogus%00=1", "bogus\\u0000"),
    ],
)
def test_hostile_filters_in_the_query_are_a_400_naming_the_field(tmp_path: Path, query: str, field: str) -> None:
    settings = make_settings(tmp_path, admin_token="dead-admin", delivery={"enabled": False})
    with open_client(settings, respx.Router()) as client:
        answer = client.get(f"/v1/admin/dead?{query}", headers=ADMIN)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["error"] == "invalid_filter" and answer.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"limit": 100000000000000000000000}', "limit"),
        (b'{"tiktok_code": 100000000000000000000000}', "tiktok_code"),
        (b'{"tiktok_code": true}', "tiktok_code"),
        (b'{"since": 1e400}', "(body)"),
        (b'{"until": NaN}', "(body)"),
        (b'{"destination": ["app_main"]}', "destination"),
        (b'{"event": {"name": "PURCHASE"}}', "event"),
        (b'{"event": 7}', "event"),
        (b'{"since": [1]}', "since"),
        (b"[]", "(body)"),
    ],
)
def test_hostile_replay_filters_are_a_400_naming_the_field(tmp_path: Path, body: bytes, field: str) -> None:
    """Before: a 23-digit tiktok_code answered 500 and a list where a string goes 503 (the store choked on it)."""
    settings = make_settings(tmp_path, admin_token="dead-admin", delivery={"enabled": False})
    with open_client(settings, respx.Router()) as client:
        answer = client.post(
            "/v1/admin/dead/replay", content=body, headers={**ADMIN, "Content-Type": "application/json"}
        )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["field"] == field


def test_replay_needs_a_filter_or_all_and_dry_run_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda r: tiktok_answer(40002, "bad", request_id="req-x"))
    settings = make_settings(tmp_path)
    with open_client(settings, router) as client:
        client.post("/v1/events", json={"events": [event(event_id="r-1"), event(event_id="r-2")]}, headers=AUTH)
        wait_for(lambda: stats_of(client)["dead"] == 2)
    config = service_config(
        tmp_path / "config.toml", mappings_dir=settings.mappings_dir, watch_config=None, store_url=settings.store.url
    )
    dead = ["dead", "replay", "--config", str(config), "--format", "json"]

    def dead_ids() -> set[str]:
        assert main(["dead", "list", "--config", str(config), "--format", "json"]) == 0
        return {letter["event_id"] for letter in json.loads(capsys.readouterr().out)["dead_letters"]}

    assert main(dead) == 2  # no filter, no --all: refused
    assert "--all for every one" in capsys.readouterr().err
    assert main([*dead, "--limit", "1"]) == 2  # a limit picks how many, not which
    capsys.readouterr()
    assert main([*dead, "--event-id", "r-2", "--dry-run"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["would_replay"] == 1 and [d["event_id"] for d in planned["dead_letters"]] == ["r-2"]
    assert main([*dead, "--all", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["would_replay"] == 2
    assert dead_ids() == {"r-1", "r-2"}  # the dry runs changed nothing
    assert main([*dead, "--event-id", "r-2"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replayed": 1}
    assert dead_ids() == {"r-1"}
    assert main([*dead, "--all"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replayed": 1}
    assert dead_ids() == set()


def test_the_replay_endpoint_needs_a_filter_or_all(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_token="dead-admin", delivery={"enabled": False})
    with open_client(settings, respx.Router()) as client:
        refused = client.post("/v1/admin/dead/replay", json={}, headers=ADMIN)
        assert refused.status_code == 400 and refused.json()["field"] == "(body)"
        assert "all" in refused.json()["message"]
        bad = client.post("/v1/admin/dead/replay", json={"all": "yes"}, headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["field"] == "all"
        assert client.post("/v1/admin/dead/replay", json={"all": True}, headers=ADMIN).json() == {"replayed": 0}
        assert client.post("/v1/admin/dead/replay", json={"event_id": "x"}, headers=ADMIN).json() == {"replayed": 0}

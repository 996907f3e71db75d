"""`forwarder check` reports every problem at once, in plain words, and catches what was copied from an example;
`check --online` asks TikTok (here: the emulator) whether each destination's token and event source id work."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
import respx

from forwarder.cli import main
from forwarder.events import InboundEvent
from forwarder.mapping.planning import Routing
from forwarder.mapping.tables import load_table
from forwarder.tiktok.builder import TikTokPayloads
from tests.configs import example_config
from tests.conftest import REPO, event, make_settings, open_client, wait_for
from tests.processes import free_port, running

REAL_TIKTOK = 'base_url = "https://business-api.tiktok.com"'
JARGON = ("Input should", "Value error", "type=", "Field required", "Extra inputs", "pydantic")


def _example(tmp_path: Path, edit: str = "", *, replace: dict[str, str] | None = None) -> Path:
    """config.example.toml in `tmp_path` with its own mapping tables, edited as a user would."""
    return example_config(tmp_path, replace=replace, extra=edit)


def _check(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    status = main(["check", "--config", str(config), *extra])
    return status, capsys.readouterr().out.splitlines()


def test_five_planted_mistakes_are_reported_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A settings error no longer hides the mapping tables, the placeholders or the demo leftovers."""
    config = _example(
        tmp_path,
        '\n[destinations.my_app]\nevent_source = "app"\nevent_source_id = "com.example.app"\n'
        'access_token = "<your access token>"\n',
        replace={
            "port = 8080": "prot = 8080",  # 1. a typo in a setting's name
            'base_url = "http://127.0.0.1:8080/_emulator"': REAL_TIKTOK,  # 2. demo destination left in; 3. emulator on
        },
    )
    (tmp_path / "mappings" / "default.toml").write_text('[events]\nOPEN = "LaunchApp"\n')  # 4. a wrong-case name
    status, lines = _check(config, capsys)
    assert status == 1
    expected = [
        f"error: {config}: server.prot: is not a setting here (did you mean 'port'?)",
        "error: config: destinations.demo_app_events: is the example config's demo destination",
        "error: config: emulator.enabled: the emulator is on while tiktok.base_url is the real TikTok",
        f"error: {tmp_path / 'mappings' / 'default.toml'}: events.OPEN: 'LaunchApp' is not an app standard event",
        "error: config: destinations.my_app.event_source_id: 'com.example.app' looks like a store app id",  # 5.
        "error: config: destinations.my_app.access_token: is still an example's placeholder: put the real value",  # 6.
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert not any(word in line for line in lines for word in JARGON)
    assert "<your access token>" not in "\n".join(lines)  # a secret field's value is never echoed


def test_settings_errors_are_in_plain_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _example(
        tmp_path,
        '\n[destinations.tv]\nevent_source = "tv"\nevent_source_id = ""\n',
        replace={"workers = 1 ": 'workers = "two" ', 'keys = ["demo-ingest-key"]': 'keys = "demo-ingest-key"'},
    )
    status, lines = _check(config, capsys)
    assert status == 1
    assert lines == [
        f"error: {config}: server.workers: must be a whole number",
        f'error: {config}: sources.demo_app.keys: must be a list, e.g. ["a", "b"]',
        f"error: {config}: destinations.tv.event_source: must be 'web', 'app', 'offline' or 'crm'",
        f"error: {config}: destinations.tv.event_source_id: must not be empty",
        f"error: {config}: destinations.tv.access_token: is required but missing",
    ]


def test_check_without_a_config_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FORWARDER_CONFIG", raising=False)
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    assert main(["check"]) == 1
    assert capsys.readouterr().out.startswith("error: (environment): no config: pass --config FILE")


@pytest.mark.parametrize(
    ("value", "looks_like"),
    [("com.example.app", "a store app id (package name or bundle id)"), ("id1217828636", "an App Store id")],
)
def test_a_store_app_id_is_not_a_tiktok_app_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, looks_like: str
) -> None:
    config = _example(tmp_path, replace={'event_source_id = "7301234567890123456"': f'event_source_id = "{value}"'})
    status, lines = _check(config, capsys)
    assert status == 1
    assert lines == [
        f"error: config: destinations.demo_app_events.event_source_id: {value!r} looks like {looks_like}; an app "
        "destination's event_source_id is TikTok's numeric App ID (Events Manager -> your app). The store app id "
        "goes in each event's app.id"
    ]


def test_example_keys_on_a_public_address_are_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _example(tmp_path, replace={'host = "127.0.0.1"': 'host = "0.0.0.0"'})
    status, lines = _check(config, capsys)
    assert status == 1
    assert "server.host '0.0.0.0' is reachable from others" in lines[0]
    assert [line.split(": is ")[0] for line in lines] == [
        "error: config: admin_token",
        "error: config: sources.demo_app.keys.0",
    ]


def test_base_url_at_a_disabled_emulator_is_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _example(
        tmp_path, replace={"enabled = true                   # serve": "enabled = false                  # serve"}
    )
    status, lines = _check(config, capsys)
    assert status == 1
    assert lines[0].startswith("error: config: tiktok.base_url: points at this service's emulator, which [emulator]")


def test_serve_refuses_a_config_check_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _example(tmp_path, replace={'base_url = "http://127.0.0.1:8080/_emulator"': REAL_TIKTOK})
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--config", str(config)])
    assert stopped.value.code == 2
    assert "destinations.demo_app_events: is the example config's demo destination" in capsys.readouterr().err


def test_the_most_specific_test_event_code_wins(tmp_path: Path) -> None:
    """The event's own code, else its source's, else its destination's; each event is sent with the one it got."""
    settings = make_settings(
        tmp_path,
        sources={"ios_app": {"keys": ["k1"], "test_event_code": "SOURCE1"}, "web": {"keys": ["k2"]}},
        destinations={
            "app_main": {
                "event_source": "app",
                "event_source_id": "7301234567890123456",
                "access_token": "t",
                "test_event_code": "DEST1",
            }
        },
    )
    routing = Routing(settings, {"default": load_table(REPO / "mappings" / "default.toml")}, TikTokPayloads())
    now = time.time()

    def code(source: str, **overrides: object) -> str | None:
        [item] = routing.plan(InboundEvent.model_validate(event(**overrides)), source, now).items
        return item.test_event_code

    assert code("ios_app", test_event_code="EVENT1") == "EVENT1"
    assert code("ios_app") == "SOURCE1"
    assert code("web") == "DEST1"


def test_a_source_test_event_code_reaches_tiktok(tmp_path: Path, tiktok: respx.Router) -> None:
    settings = make_settings(tmp_path, sources={"ios_app": {"keys": ["k1"], "test_event_code": "TEST777"}})
    with open_client(settings, tiktok) as client:
        assert client.post("/v1/events", json=event(), headers={"Authorization": "Bearer k1"}).status_code == 202
        wait_for(lambda: len(tiktok.calls) == 1)
    assert json.loads(tiktok.calls[0].request.content)["test_event_code"] == "TEST777"


def test_check_online_reports_each_destination_against_the_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real `forwarder emulate` with one revoked token: one destination works, the other is named and explained."""
    port = free_port()
    emulator = f"http://127.0.0.1:{port}"
    config = _example(
        tmp_path,
        '\n[destinations.revoked]\nevent_source = "web"\nevent_source_id = "C4PIXELCODE0000000000"\n'
        'access_token = "an-old-token"\nmapping = "web"\npage_url = "https://example.com/app"\n',
        replace={
            'base_url = "http://127.0.0.1:8080/_emulator"': f'base_url = "{emulator}"',
            "enabled = true                   # serve": "enabled = false                  # serve",
        },
    )
    args = ["emulate", "--port", str(port), "--revoked-token", "an-old-token", "--control-token", "ctl"]
    with running(args, f"{emulator}/_control/events", tmp_path / "emulate.log"):
        status, lines = _check(config, capsys, "--online")
        received = httpx.get(f"{emulator}/_control/events", headers={"Authorization": "Bearer ctl"}).json()
    assert status == 1
    ok = "ok: destinations.demo_app_events: token and event source id work (TikTok said 0: OK, request_id "
    assert any(line.startswith(ok) for line in lines), lines
    assert any(line.endswith("under code 'FORWARDER_CHECK'") for line in lines)
    refused = (
        "error: destinations.revoked: TikTok refused the access token (wrong, expired or revoked): generate a new "
        "one in Events Manager (TikTok said 40105: Access token is incorrect or has been revoked."
    )
    assert any(line.startswith(refused) for line in lines), lines
    [sent] = received["events"]
    assert (sent["event_source_id"], sent["test_event_code"], sent["event"]) == (
        "7301234567890123456",
        "FORWARDER_CHECK",
        "LaunchAPP",
    )
    assert received["answers"] == {"0": 1, "40105": 1}


def test_a_bad_value_from_the_environment_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORWARDER_SERVER__PORT", "eighty")
    config = _example(tmp_path, '\n[sources.rc]\nkind = "revenuecat"\nkey = ["k"]\n')
    status, lines = _check(config, capsys)
    assert status == 1
    assert lines == [
        f"error: {config}: server.port: must be a whole number (set by FORWARDER_SERVER__PORT in the environment)",
        f"error: {config}: sources.rc.key: is not a setting here (did you mean 'keys'?)",
    ]

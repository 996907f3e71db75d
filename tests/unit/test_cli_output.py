"""The CLI as a person meets it: --version, help on every option, tables or JSON with ISO 8601 times."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import respx

from forwarder import __version__
from forwarder.cli import build_parser, main
from forwarder.events import utc_iso
from tests.configs import service_config
from tests.conftest import AUTH, TRACK_URL, event, make_settings, open_client, tiktok_answer, wait_for

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def _options(parser: argparse.ArgumentParser, path: str = "forwarder") -> list[tuple[str, argparse.Action]]:
    """Every argument of every command and subcommand, named by the command path that takes it."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += [(path, choice) for choice in action._choices_actions]  # each subcommand's one-line help
            for name, sub in action.choices.items():
                found += _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_version_prints_the_package_version() -> None:
    shown = subprocess.run([sys.executable, "-m", "forwarder", "--version"], capture_output=True, text=True)
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"forwarder {__version__}"


def test_every_option_of_every_command_has_help_text() -> None:
    options = _options(build_parser())
    assert len(options) > 40  # the walk reached the subcommands
    missing = [f"{path} {action.option_strings or action.dest or action.metavar}" for path, action in options]
    missing = [name for name, (_, action) in zip(missing, options, strict=True) if not action.help]
    assert missing == []


def test_every_read_command_takes_table_or_json() -> None:
    commands = {path for path, action in _options(build_parser()) if "--format" in action.option_strings}
    expected = {"stats", "events show", "dead list", "dead replay", "conflicts list", "audiences list"}
    expected |= {"audiences show", "audiences explain", "audiences performance", "report"}  # report: csv too
    assert commands == {f"forwarder {name}" for name in expected}


@pytest.fixture
def dead_config(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A store holding one dead letter (TikTok answered 40002), a config naming it, and the letter as the API shows
    it (raw Unix times)."""
    router = respx.Router()
    router.post(TRACK_URL).mock(side_effect=lambda r: tiktok_answer(40002, "bad value", request_id="req-x"))
    settings = make_settings(tmp_path, admin_token="cli-admin")
    admin = {"Authorization": "Bearer cli-admin"}
    with open_client(settings, router) as client:
        client.post("/v1/events", json=event(event_id="cli-1"), headers=AUTH)
        wait_for(lambda: client.get("/v1/admin/dead", headers=admin).json()["count"] == 1)
        [letter] = client.get("/v1/admin/dead", headers=admin).json()["dead_letters"]
    config = service_config(
        tmp_path / "config.toml",
        mappings_dir=settings.mappings_dir,
        watch_config=None,
        store_url=settings.store.url,
        tiktok_url=settings.tiktok.base_url,
        destinations={
            "app_main": {"event_source": "app", "event_source_id": "7301234567890123456", "access_token": "t"}
        },
    )
    return config, letter


def test_read_commands_show_iso_times_in_json(
    dead_config: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, letter = dead_config
    assert main(["dead", "list", "--config", str(config), "--format", "json"]) == 0
    [shown] = json.loads(capsys.readouterr().out)["dead_letters"]
    assert shown["failed_at"] == utc_iso(letter["failed_at"]) and shown["stored_at"] == utc_iso(letter["stored_at"])
    assert shown["event_id"] == "cli-1" and shown["tiktok_code"] == 40002
    assert main(["stats", "--config", str(config), "--format", "json"]) == 0
    last_error = json.loads(capsys.readouterr().out)["destinations"]["app_main"]["last_error"]
    assert re.fullmatch(ISO, last_error["at"])
    assert main(["events", "show", "cli-1", "--config", str(config), "--format", "json"]) == 0
    [delivery] = json.loads(capsys.readouterr().out)["deliveries"]
    assert delivery["state"] == "failed" and re.fullmatch(ISO, delivery["stored_at"])
    assert all(re.fullmatch(ISO, attempt["at"]) for attempt in delivery["attempts"])


def test_read_commands_print_tables(
    dead_config: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, letter = dead_config
    assert main(["dead", "list", "--config", str(config), "--format", "table"]) == 0
    header, row, count = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "failed_at",
        "destination",
        "event",
        "event_id",
        "attempts",
        "code",
        "message",
        "request_id",
    ]
    assert row.split()[:4] == [utc_iso(letter["failed_at"]), "app_main", "StartTrial", "cli-1"]
    assert row.split()[5:] == ["40002", "bad", "value", "req-x"] and count == "1 dead letter(s)"
    assert main(["stats", "--config", str(config), "--format", "table"]) == 0
    out = capsys.readouterr().out
    destination = next(line.split() for line in out.splitlines() if line.startswith("app_main "))
    assert destination[:2] == ["app_main", "active"] and destination[10] == "1"  # the dead column
    assert re.search(rf"app_main: last error {ISO} code 40002: bad value", out)
    assert main(["events", "show", "cli-1", "--config", str(config), "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"app_main: StartTrial failed \(stored {ISO}", out)
    assert re.search(rf"^1 +{ISO} +40002 +bad value +req-x$", out, re.MULTILINE)
    assert main(["conflicts", "list", "--config", str(config), "--format", "table"]) == 0
    columns = "id at destination order_id kind status differs event_id source first_event_id first_source"
    assert capsys.readouterr().out.split() == columns.split()  # none held: the header alone


def test_a_pipe_gets_json_by_default(dead_config: tuple[Path, dict[str, Any]]) -> None:
    config, _ = dead_config
    shown = subprocess.run(
        [sys.executable, "-m", "forwarder", "dead", "list", "--config", str(config)], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["count"] == 1

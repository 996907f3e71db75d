"""The README's examples work as written."""

from __future__ import annotations

import re
import subprocess
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from forwarder.cli import main
from forwarder.mapping.tables import load_table, map_event
from forwarder.tiktok.event_names import check_event_name, native_names
from tests.configs import example_config
from tests.conftest import REPO
from tests.processes import emulator_state, free_port, running

APP_NAMES = native_names("app")  # what a TikTok app destination sends without a rule

README = (REPO / "README.md").read_text()


def _toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README, flags=re.S)


def test_the_mapping_table_example_loads_and_maps(tmp_path: Path) -> None:
    [example] = [block for block in _toml_blocks() if "[[events.SUBSCRIPTION]]" in block]
    path = tmp_path / "example.toml"
    path.write_text(example)
    table = load_table(path)
    trial = map_event(table, "SUBSCRIPTION", {"properties": {"period_type": "TRIAL"}}, native=APP_NAMES)
    paid = map_event(
        table,
        "SUBSCRIPTION",
        {"properties": {"period_type": "NORMAL", "price": "4.99", "transaction_id": "t-1"}},
        native=APP_NAMES,
    )
    assert [e.event for e in trial.events] == ["StartTrial"]
    [subscribe] = paid.events
    assert subscribe.properties | {} == {
        "period_type": "NORMAL",
        "price": "4.99",
        "transaction_id": "t-1",
        "value": 4.99,
        "order_id": "t-1",
        "currency": "USD",
        "content_type": "product",
    }
    assert map_event(table, "DEBUG_PING", {}, native=APP_NAMES).dropped == "denied"
    for rules in table.rules.values():
        for rule in rules:
            assert check_event_name("", "", rule.event, "app", "d") is None


def test_readme_commands_name_real_subcommands() -> None:
    import argparse

    from forwarder.cli import build_parser

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return dict(action.choices)

    top = subcommands(build_parser())
    mentioned = re.findall(r"`(?:\.venv/bin/)?forwarder ([a-z]+)(?: ([a-z]+))?", README)
    assert len(mentioned) >= 8
    for first, second in mentioned:
        assert first in top, f"README mentions `forwarder {first}`"
        if first in ("mappings", "events"):
            assert second in subcommands(top[first]), f"README mentions `forwarder {first} {second}`"


# --- Every curl example in README, run as written against a real `forwarder serve` -------------------------------

_FENCE = re.compile(r"```(\w*)\n(.*?)```", flags=re.S)
_ANSWERS = re.compile(r"\s+#\s*answers (\d{3})\s*$")
_README_HOSTS = ("http://127.0.0.1:8080", "https://forwarder.example.com")


def _commands(block: str) -> list[str]:
    """The shell commands of a block: a newline ends one unless it is quoted or escaped."""
    commands, current, quote, escaped = [], "", "", False
    for char in block:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        elif char == "\n" and not quote:
            commands.append(current.strip())
            current = ""
            continue
        current += char
    return [command for command in [*commands, current.strip()] if command]


def readme_curl_examples() -> list[tuple[str, int | None]]:
    """Every curl command in README (fenced shell blocks and inline code), in reading order, with the status it
    must answer: the one its `# answers NNN` comment names, else None for any 2xx."""
    examples: list[tuple[int, str]] = []
    for match in _FENCE.finditer(README):
        if match.group(1) in ("sh", "bash", "shell", ""):
            examples += [(match.start(), c) for c in _commands(match.group(2)) if c.startswith("curl ")]
    prose = _FENCE.sub(lambda m: " " * len(m.group(0)), README)
    examples += [(m.start(), m.group(1)) for m in re.finditer(r"`(curl [^`]+)`", prose)]
    found = []
    for _, command in sorted(examples):
        status = _ANSWERS.search(command)
        found.append((_ANSWERS.sub("", command), int(status.group(1)) if status else None))
    return found


def _section(heading: str) -> str:
    start = README.index(f"\n## {heading}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def readme_source_sections() -> list[str]:
    """The `[sources.*]` blocks of the per-platform subsections, which the README tells users to paste."""
    platforms = _section("Attribution platforms and subscription back ends").split("\n### ")[1:]
    return [block for part in platforms for block in re.findall(r"```toml\n(\[sources\..*?)```", part, flags=re.S)]


def readme_config(tmp_path: Path, port: int) -> Path:
    """config.example.toml plus the README's source sections, on `port`, with a store and tables of its own."""
    replace = {
        "127.0.0.1:8080": f"127.0.0.1:{port}",
        "port = 8080": f"port = {port}",
        'url = "sqlite:///forwarder.db"': f'url = "sqlite:///{tmp_path / "forwarder.db"}"',
    }
    return example_config(tmp_path, replace=replace, extra="\n" + "\n".join(readme_source_sections()))


def test_readme_has_a_curl_example_and_a_source_section_per_platform() -> None:
    commands = "\n".join(command for command, _ in readme_curl_examples())
    sources = {
        name: spec for block in readme_source_sections() for name, spec in tomllib.loads(block)["sources"].items()
    }
    assert {spec["kind"] for spec in sources.values()} == {"appsflyer", "adjust", "branch", "revenuecat", "generic"}
    for route in ("/v1/events", "/_control/events", "/v1/stats", *(f"/v1/postbacks/{name}" for name in sources)):
        assert route in commands, route


def test_every_readme_curl_example_answers_as_the_readme_says(tmp_path: Path) -> None:
    """Each example runs in bash, as pasted, against `forwarder serve` on the README's config; timestamps are the
    examples' own (generated when they run), so this passes next year as it does today."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = readme_config(tmp_path, port)
    examples = readme_curl_examples()
    assert len(examples) >= 9
    answers = []
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path):
        for command, expected in examples:
            for host in _README_HOSTS:
                command = command.replace(host, base)
            assert base in command, command
            ran = subprocess.run(
                ["bash", "-c", command + " -sS --max-time 10 -o /dev/null -w '%{http_code}'"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            answers.append((command[:80], expected, ran.stdout))
        delivered = _sent_by_every_example(f"{base}/_emulator")
    for command, expected, status in answers:
        if expected is None:
            assert status.startswith("2"), (command, status, (tmp_path / "serve.log").read_text()[-3000:])
        else:
            assert status == str(expected), (command, status)
    # The SDK event and each platform's reached "TikTok" (event ids: the SDK's, then each platform's own form).
    assert delivered == {
        "5d1c-0001": "StartTrial",
        "af_": "Purchase",
        "adj_": "Purchase",
        "branch_1000000000000000001": "Purchase",
        "rc_e-1": "StartTrial",
        "g-1": "Purchase",
    }


def _sent_by_every_example(emulator: str, timeout_s: float = 15) -> dict[str, str]:
    """event id (or its platform's prefix) -> TikTok event, once all six examples' events have been delivered."""
    wanted = ("5d1c-0001", "af_", "adj_", "branch_1000000000000000001", "rc_e-1", "g-1")
    deadline = time.monotonic() + timeout_s
    while True:
        events = emulator_state(emulator, {"Authorization": "Bearer demo-admin-token"})["events"]
        found = {w: e["event"] for w in wanted for e in events if e["event_id"].startswith(w)}
        if len(found) == len(wanted) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_send_to_real_tiktok_is_refused_until_every_step_is_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's block pasted into the example config: `check` names the demo destination it says to remove and
    every value still to fill in; once the steps are followed, nothing is left to flag."""
    [block] = [textwrap.dedent(b) for b in _toml_blocks() if "business-api.tiktok.com" in b]
    wanted = tomllib.loads(block)
    replace = {
        'base_url = "http://127.0.0.1:8080/_emulator"': f'base_url = "{wanted["tiktok"]["base_url"]}"',
        "enabled = true ": f"enabled = {str(wanted['emulator']['enabled']).lower()} ",
    }
    destination = block[block.index("[destinations.") :]
    config = example_config(tmp_path, replace=replace, extra="\n" + destination)
    text = config.read_text().removesuffix("\n" + destination)
    assert main(["check", "--config", str(config)]) == 1
    flagged = [line.split(": is ")[0] for line in capsys.readouterr().out.splitlines()]
    assert flagged == [
        "error: config: destinations.my_app.event_source_id",  # <your TikTok App ID>
        "error: config: destinations.my_app.access_token",  # <your access token>
        "error: config: destinations.demo_app_events",  # step 1 not followed
        "error: config: admin_token",  # step 3 not followed
        "error: config: sources.demo_app.keys.0",
    ]
    steps_followed = (
        text[: text.index("[destinations.demo_app_events]")]
        .replace("demo-admin-token", "9b1f0e4c7d2a55e0")
        .replace("demo-ingest-key", "5e8a3c1f77d04b2a")
    )
    filled = destination.replace("<your TikTok App ID>", "7409876543210987654")
    config.write_text(steps_followed + filled.replace("<your access token>", "0f3c9e2d7a61b8f4c5d2e1a0b9c8d7e6"))
    assert main(["check", "--config", str(config)]) == 0, capsys.readouterr().out

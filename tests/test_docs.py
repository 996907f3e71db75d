"""The README's examples work as written."""

from __future__ import annotations

import re
from pathlib import Path

from forwarder.check import check_event_name
from forwarder.mapping import load_table, map_event

from .conftest import REPO

README = (REPO / "README.md").read_text()


def _toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README, flags=re.S)


def test_the_mapping_table_example_loads_and_maps(tmp_path: Path) -> None:
    [example] = [block for block in _toml_blocks() if "[[events.SUBSCRIPTION]]" in block]
    path = tmp_path / "example.toml"
    path.write_text(example)
    table = load_table(path)
    trial = map_event(table, "SUBSCRIPTION", {"properties": {"period_type": "TRIAL"}}, event_source="app")
    paid = map_event(
        table,
        "SUBSCRIPTION",
        {"properties": {"period_type": "NORMAL", "price": "4.99", "transaction_id": "t-1"}},
        event_source="app",
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
    assert map_event(table, "DEBUG_PING", {}, event_source="app").dropped == "denied"
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

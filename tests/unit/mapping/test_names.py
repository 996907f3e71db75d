"""Inbound event names match a rule however they are written: case, `_`, `-`, spaces and CamelCase."""

from __future__ import annotations

from pathlib import Path

import pytest

from forwarder.errors import MappingError
from forwarder.mapping.names import collisions, normalise_name
from forwarder.mapping.tables import load_mappings, load_table, map_event, maps_name
from forwarder.tiktok.event_names import native_names
from tests.conftest import REPO

APP_NAMES = native_names("app")  # what a TikTok app destination sends without a rule

SPELLINGS = ["start_trial", "START_TRIAL", "StartTrial", "startTrial", "start-trial", "Start Trial", " start  trial "]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_name_normalises_to_snake_case(spelling: str) -> None:
    assert normalise_name(spelling) == "start_trial"


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("purchase", "purchase"),
        ("Purchase", "purchase"),
        ("PURCHASE", "purchase"),
        ("InAppADClick", "in_app_ad_click"),  # a run of capitals ends where the next word starts
        ("LaunchAPP", "launch_app"),
        ("level2Up", "level2_up"),
        ("add--to__cart", "add_to_cart"),
    ],
)
def test_camel_case_splits_into_words(written: str, normalised: str) -> None:
    assert normalise_name(written) == normalised


@pytest.mark.parametrize("spelling", [*SPELLINGS, "purchase", "Purchase", "PURCHASE", "in-app ad click"])
def test_the_default_table_matches_every_spelling(spelling: str) -> None:
    table = load_mappings(REPO / "mappings")["default"]
    [mapped] = map_event(table, spelling, {}, native=APP_NAMES).events
    wanted = {"start_trial": "StartTrial", "purchase": "Purchase", "in_app_ad_click": "InAppADClick"}
    assert mapped.event == wanted[normalise_name(spelling)]
    assert maps_name(table, spelling, native=APP_NAMES)


def test_allow_and_deny_lists_match_every_spelling(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('deny = ["debug-ping"]\n[events]\nDEBUG_PING = "Login"\nStartTrial = "StartTrial"\n')
    table = load_table(path)
    assert map_event(table, "DebugPing", {}, native=APP_NAMES).dropped == "denied"
    assert not maps_name(table, "DEBUG PING", native=APP_NAMES)
    assert [m.event for m in map_event(table, "START_TRIAL", {}, native=APP_NAMES).events] == ["StartTrial"]


def test_an_unmapped_name_still_passes_through_only_in_tiktoks_spelling(tmp_path: Path) -> None:
    """Removing a rule stops an SDK name: `Search` (TikTok's name) passes, `SEARCH` without a rule does not."""
    path = tmp_path / "t.toml"
    path.write_text('[events]\nPURCHASE = "Purchase"\n')
    table = load_table(path)
    assert [m.event for m in map_event(table, "Search", {}, native=APP_NAMES).events] == ["Search"]
    assert map_event(table, "SEARCH", {}, native=APP_NAMES).dropped == "unmapped"


def test_two_rules_for_one_name_are_refused_naming_both_keys_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "clash.toml"
    path.write_text('[events]\nSTART_TRIAL = "StartTrial"\nPURCHASE = "Purchase"\n"Start Trial" = "Subscribe"\n')
    with pytest.raises(MappingError) as raised:
        load_table(path)
    assert raised.value.file == str(path)
    assert "events.START_TRIAL" in raised.value.reason and "events.Start Trial" in raised.value.reason


def test_collisions_lists_each_later_spelling_with_the_first() -> None:
    assert collisions(["A_B", "AB", "aB", "a-b"]) == [("A_B", "aB"), ("A_B", "a-b")]


def test_normalising_is_cached_and_bounded() -> None:
    """The hot path normalises once per distinct name, and clients cannot grow the cache without bound."""
    normalise_name.cache_clear()
    for _ in range(3):
        normalise_name("StartTrial")
    info = normalise_name.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    assert info.maxsize is not None

"""Event names in use: what ingest records per destination, bounded, and which a candidate config would drop."""

from __future__ import annotations

from pathlib import Path

from forwarder.mapping.planning import Plan, Routing
from forwarder.mapping.tables import load_mappings, load_table
from forwarder.mapping.traffic import RECENT_S, RecentNames, names_dropped
from forwarder.store import OutboxItem
from forwarder.tiktok.builder import TikTokPayloads
from tests.conftest import REPO, make_settings

NOW = 1_800_000_000.0


def item(destination: str) -> OutboxItem:
    return OutboxItem(destination, "Purchase", "e-1", b"{}", None, "default@x")


def test_names_are_recorded_per_destination_when_mapped_or_filtered() -> None:
    recent = RecentNames()
    plans = [
        Plan(items=[item("app")]),
        Plan(dropped={"app": "filtered", "web": "unmapped"}),
        Plan(dropped={"web": "denied"}),
    ]
    recent.note(plans, ["PURCHASE", "SUBSCRIPTION", "LOGIN"], NOW)
    assert recent.in_use(NOW + 1) == {"app": {"PURCHASE", "SUBSCRIPTION"}}
    assert recent.in_use(NOW + RECENT_S) == {}


def test_clients_cannot_grow_the_record_without_bound() -> None:
    """Custom-event destinations map any name a client invents: at most max_pairs are kept; old ones make room."""
    recent = RecentNames(max_pairs=3)
    recent.note([Plan(items=[item("app")])] * 5, [f"N{i}" for i in range(5)], NOW)
    assert recent.in_use(NOW) == {"app": {"N0", "N1", "N2"}}
    recent.note([Plan(items=[item("app")])], ["N0"], NOW + RECENT_S - 1)  # still in use: kept fresh
    recent.note([Plan(items=[item("app")])], ["LATE"], NOW + RECENT_S)
    assert recent.in_use(NOW + RECENT_S) == {"app": {"N0", "LATE"}}


def routing(tmp_path: Path, default: str | None = None) -> Routing:
    settings = make_settings(tmp_path)
    tables = load_mappings(REPO / "mappings")
    if default is not None:
        path = tmp_path / "default.toml"
        path.write_text(default)
        tables["default"] = load_table(path)
    return Routing(settings, tables, TikTokPayloads())


def test_a_candidate_is_checked_per_destination_against_the_names_it_used(tmp_path: Path) -> None:
    current = routing(tmp_path)
    candidate = routing(tmp_path, '[events]\nSTART_TRIAL = "StartTrial"\n')
    in_use = {"app_main": {"PURCHASE", "START_TRIAL", "Search", "NEVER_MAPPED"}}
    # Search is a TikTok standard name: it passes through either table; NEVER_MAPPED was not mapped to begin with.
    assert names_dropped(current, candidate, in_use) == [
        {"destination": "app_main", "table": candidate.tables["default"].label, "names": ["PURCHASE"]}
    ]
    gone = Routing(current.settings.model_copy(update={"destinations": {}}), current.tables, current.payloads)
    assert names_dropped(current, gone, in_use) == [
        {"destination": "app_main", "table": None, "names": ["PURCHASE", "START_TRIAL", "Search"]}
    ]


def test_a_policy_that_maps_every_name_drops_none(tmp_path: Path) -> None:
    current = routing(tmp_path)
    candidate = routing(tmp_path, 'unmapped = "custom"\n[events]\nSTART_TRIAL = "StartTrial"\n')
    assert names_dropped(current, candidate, {"app_main": {"PURCHASE", "START_TRIAL"}}) == []


def test_names_in_use_match_a_candidate_rule_however_it_is_written(tmp_path: Path) -> None:
    """A table that rewrites START_TRIAL as `Start Trial` still maps START_TRIAL traffic: no reload refusal."""
    current = routing(tmp_path)
    candidate = routing(tmp_path, '[events]\n"Start Trial" = "StartTrial"\nPurchase = "Purchase"\n')
    in_use = {"app_main": {"START_TRIAL", "start-trial", "PURCHASE", "LOGIN"}}
    assert names_dropped(current, candidate, in_use) == [
        {"destination": "app_main", "table": candidate.tables["default"].label, "names": ["LOGIN"]}
    ]

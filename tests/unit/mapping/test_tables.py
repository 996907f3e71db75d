"""Mapping tables: the shipped default covers the digest's SDK names; rules; invalid files name file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import respx
from starlette.testclient import TestClient

from forwarder.errors import MappingError, PayloadError
from forwarder.mapping.tables import (
    MappedEvent,
    MappingTable,
    MapResult,
    load_mappings,
    load_table,
    map_event,
    maps_name,
)
from forwarder.tiktok.event_names import native_names
from tests.conftest import AUTH, REPO, event, sent_bodies, stats_of, wait_for
from tests.unit.conftest import LEAD_ID

APP_NAMES = native_names("app")  # what a TikTok app destination sends without a rule

# ../shared/tiktok-events-api.md section 4.2, typed out here independently of mappings/default.toml.
DIGEST_SECTION_4_2 = {
    "ACHIEVE_LEVEL": "AchieveLevel",
    "ADD_PAYMENT_INFO": "AddPaymentInfo",
    "ADD_TO_CART": "AddToCart",
    "ADD_TO_WISHLIST": "AddToWishlist",
    "CHECKOUT": "Checkout",
    "COMPLETE_TUTORIAL": "CompleteTutorial",
    "CREATE_GROUP": "CreateGroup",
    "CREATE_ROLE": "CreateRole",
    "GENERATE_LEAD": "GenerateLead",
    "IN_APP_AD_CLICK": "InAppADClick",
    "IN_APP_AD_IMPR": "InAppADImpr",
    "IN_APP_AD_IMPRESSION": "InAppADImpr",
    "INSTALL_APP": "InstallApp",
    "INSTALL": "InstallApp",
    "JOIN_GROUP": "JoinGroup",
    "LAUNCH_APP": "LaunchAPP",
    "LOAN_APPLICATION": "LoanApplication",
    "LOAN_APPROVAL": "LoanApproval",
    "LOAN_DISBURSAL": "LoanDisbursal",
    "LOGIN": "Login",
    "PURCHASE": "Purchase",
    "RATE": "Rate",
    "REGISTRATION": "Registration",
    "SEARCH": "Search",
    "SPEND_CREDITS": "SpendCredits",
    "START_TRIAL": "StartTrial",
    "SUBSCRIBE": "Subscribe",
    "UNLOCK_ACHIEVEMENT": "UnlockAchievement",
    "VIEW_CONTENT": "ViewContent",
}


@pytest.fixture(scope="module")
def default_table() -> MappingTable:
    return load_mappings(REPO / "mappings")["default"]


def only(result: MapResult) -> MappedEvent:
    [mapped] = result.events
    return mapped


@pytest.mark.parametrize(("sdk_name", "tiktok_name"), sorted(DIGEST_SECTION_4_2.items()))
def test_default_table_maps_every_sdk_name(default_table: MappingTable, sdk_name: str, tiktok_name: str) -> None:
    mapped = only(map_event(default_table, sdk_name, {}, native=APP_NAMES))
    assert mapped.event == tiktok_name and not mapped.is_custom


def test_default_table_has_nothing_beyond_the_digest(default_table: MappingTable) -> None:
    assert set(default_table.rules) == set(DIGEST_SECTION_4_2)


def test_unmapped_is_dropped_or_forwarded_as_custom(default_table: MappingTable) -> None:
    assert map_event(default_table, "LEVEL_UP_BONUS", {}, native=APP_NAMES) == MapResult([], "unmapped")
    custom = only(map_event(default_table, "LEVEL_UP_BONUS", {}, native=APP_NAMES, unmapped="custom"))
    assert custom.event == "LEVEL_UP_BONUS" and custom.is_custom


def test_tiktok_standard_names_pass_through(default_table: MappingTable) -> None:
    assert only(map_event(default_table, "Purchase", {}, native=APP_NAMES)).event == "Purchase"
    # A web-only name is not standard for an app destination: the unmapped policy applies.
    assert map_event(default_table, "CompleteRegistration", {}, native=APP_NAMES).dropped == "unmapped"


def table(tmp_path: Path, text: str) -> MappingTable:
    path = tmp_path / "t.toml"
    path.write_text(text)
    return load_table(path)


def test_rule_properties_come_from_paths_with_defaults(tmp_path: Path) -> None:
    rules = table(
        tmp_path,
        '[events.ORDER]\nevent = "Purchase"\n'
        'properties = { value = "properties.revenue", order_id = "order.id", campaign = "ad.campaign" }\n'
        'defaults = { currency = "USD" }\n',
    )
    document = {"properties": {"revenue": 12.5, "sku": "x"}, "order": {"id": "o-1"}}
    mapped = only(map_event(rules, "ORDER", document, native=APP_NAMES))
    assert mapped.properties == {"revenue": 12.5, "sku": "x", "value": 12.5, "order_id": "o-1", "currency": "USD"}
    assert mapped.rule_keys == {"value", "order_id", "campaign", "currency"}


def test_default_does_not_override_a_sent_value(tmp_path: Path) -> None:
    rules = table(tmp_path, '[events.ORDER]\nevent = "Purchase"\ndefaults = { currency = "USD" }\n')
    mapped = only(map_event(rules, "ORDER", {"properties": {"currency": "EUR"}}, native=APP_NAMES))
    assert mapped.properties["currency"] == "EUR"


def test_property_types_are_coerced_with_a_default(tmp_path: Path) -> None:
    rules = table(
        tmp_path,
        '[events.ORDER]\nevent = "Purchase"\nproperties = { '
        'value = { path = "properties.revenue", type = "number", default = 0 }, '
        'num_items = { path = "properties.n", type = "integer" }, '
        'order_id = { path = "properties.order", type = "string" }, '
        'first = { path = "properties.first", type = "boolean" } }\n',
    )
    document = {"properties": {"revenue": "9.90", "n": "3", "order": 1234, "first": "yes"}}
    props = only(map_event(rules, "ORDER", document, native=APP_NAMES)).properties
    assert (props["value"], props["num_items"], props["order_id"], props["first"]) == (9.9, 3, "1234", True)
    assert only(map_event(rules, "ORDER", {}, native=APP_NAMES)).properties["value"] == 0
    with pytest.raises(PayloadError) as raised:
        map_event(rules, "ORDER", {"properties": {"revenue": "a lot"}}, native=APP_NAMES)
    assert raised.value.field == "properties.revenue"


def test_one_inbound_event_can_become_several(tmp_path: Path) -> None:
    rules = table(tmp_path, '[events]\nSIGNUP = ["Registration", "CompleteTutorial"]\n')
    assert [m.event for m in map_event(rules, "SIGNUP", {}, native=APP_NAMES).events] == [
        "Registration",
        "CompleteTutorial",
    ]


def test_conditions_choose_the_rule(tmp_path: Path) -> None:
    rules = table(
        tmp_path,
        '[[events.SUBSCRIPTION]]\nevent = "StartTrial"\nwhen = { "properties.period_type" = "TRIAL" }\n'
        '[[events.SUBSCRIPTION]]\nevent = "Subscribe"\nwhen = { "properties.period_type" = { ne = "TRIAL" } }\n'
        '[[events.SUBSCRIPTION]]\nevent = "Purchase"\n'
        'when = { "properties.price" = { gt = 0 }, "properties.store" = ["APP_STORE", "PLAY_STORE"] }\n',
    )

    def names(**properties: Any) -> list[str]:
        return [m.event for m in map_event(rules, "SUBSCRIPTION", {"properties": properties}, native=APP_NAMES).events]

    assert names(period_type="TRIAL", price=0, store="APP_STORE") == ["StartTrial"]
    assert names(period_type="NORMAL", price=4.99, store="PLAY_STORE") == ["Subscribe", "Purchase"]
    assert names(period_type="NORMAL", price=4.99, store="STRIPE") == ["Subscribe"]
    assert (
        map_event(rules, "SUBSCRIPTION", {"properties": {"period_type": "TRIAL", "price": 0}}, native=APP_NAMES)
        .events[0]
        .event
        == "StartTrial"
    )


@pytest.mark.parametrize(
    ("test", "value", "holds"),
    [
        ({"exists": True}, None, False),
        ({"exists": False}, None, True),
        ({"in": ["a", "b"]}, "b", True),
        ({"not_in": ["a"]}, "a", False),
        ({"gte": 10}, "10", True),
        ({"lt": 10}, None, False),
        ({"lte": 1}, "x", False),
        ("x", "x", True),
        (["x"], "y", False),
    ],
)
def test_condition_operators(test: Any, value: Any, holds: bool) -> None:
    from forwarder.mapping.rules import parse_condition

    assert parse_condition("p", test).holds(value) is holds


def test_no_condition_met_is_filtered(tmp_path: Path) -> None:
    rules = table(tmp_path, '[[events.X]]\nevent = "Purchase"\nwhen = { "properties.ok" = true }\n')
    assert map_event(rules, "X", {"properties": {"ok": False}}, native=APP_NAMES) == MapResult([], "filtered")


def test_allow_and_deny_lists(tmp_path: Path) -> None:
    allow = table(tmp_path, 'allow = ["PURCHASE"]\n[events]\nPURCHASE = "Purchase"\nLOGIN = "Login"\n')
    assert map_event(allow, "LOGIN", {}, native=APP_NAMES).dropped == "denied"
    assert map_event(allow, "Search", {}, native=APP_NAMES).dropped == "denied"
    deny = table(tmp_path, 'deny = ["LOGIN"]\n[events]\nPURCHASE = "Purchase"\nLOGIN = "Login"\n')
    assert map_event(deny, "LOGIN", {}, native=APP_NAMES).dropped == "denied"
    assert only(map_event(deny, "PURCHASE", {}, native=APP_NAMES)).event == "Purchase"


def test_static_properties_and_table_unmapped_policy(tmp_path: Path) -> None:
    rules = table(
        tmp_path,
        'unmapped = "custom"\n[static]\nproperties = { content_type = "product" }\n[events]\nPURCHASE = "Purchase"\n',
    )
    assert only(map_event(rules, "PURCHASE", {}, native=APP_NAMES)).properties == {"content_type": "product"}
    assert only(map_event(rules, "OTHER", {}, native=APP_NAMES)).is_custom
    assert map_event(rules, "OTHER", {}, native=APP_NAMES, unmapped="drop").dropped == "unmapped"


def test_version_follows_content(tmp_path: Path) -> None:
    first = table(tmp_path, '[events]\nA = "Purchase"\n')
    again = table(tmp_path, '[events]\nA = "Purchase"\n')
    changed = table(tmp_path, '[events]\nA = "Subscribe"\n')
    assert first.version == again.version != changed.version
    assert first.label == f"t@{first.version}"


@pytest.mark.parametrize(
    ("content", "key", "reason"),
    [
        ("[events\n", "", "invalid TOML"),
        ("[other]\nA = 1\n", "other", "unknown top-level key"),
        ("[events]\n", "events", "missing or empty"),
        ("[events]\nA = 3\n", "events.A", "TikTok event name or a table"),
        ("[events]\nA = []\n", "events.A", "at least one"),
        ('unmapped = "keep"\n[events]\nA = "Purchase"\n', "unmapped", "drop"),
        ('allow = ["A"]\ndeny = ["B"]\n[events]\nA = "Purchase"\n', "allow", "either"),
        ('[events.A]\nevent = "Purchase"\nwhen = { "p" = { like = "x" } }\n', "events.A.when", "one of"),
        ('[events.A]\nevent = "Purchase"\nwhen = { "p" = { gt = "x" } }\n', "events.A.when", "number"),
        (
            '[events.A]\nevent = "Purchase"\nproperties = { value = { path = "p", type = "money" } }\n',
            "events.A.properties.value",
            "type must be",
        ),
        ('[[events.A]]\nevent = "Purchase"\n[[events.A]]\nevent = ""\n', "events.A.1.event", "non-empty"),
        ('[events.A]\nevent = ""\n', "events.A.event", "non-empty"),
        ('[events.A]\nevent = "Purchase"\nrename = "x"\n', "events.A.rename", "unknown key"),
        ('[events.A]\nevent = "Purchase"\nproperties = { value = 3 }\n', "events.A.properties.value", "dotted path"),
    ],
)
def test_invalid_table_names_file_key_and_reason(tmp_path: Path, content: str, key: str, reason: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(MappingError) as raised:
        load_table(path)
    assert raised.value.file == str(path)
    assert raised.value.key == key
    assert reason in raised.value.reason


@pytest.mark.parametrize("name", ["PURCHASE", "purchase", "LOGIN", "log-in", "Login", "Search", "OTHER", "X", "x"])
@pytest.mark.parametrize(
    "text",
    [
        '[events]\nPURCHASE = "Purchase"\nX = { event = "Login", when = { "properties.ok" = true } }\n',
        'unmapped = "custom"\n[events]\nPURCHASE = "Purchase"\n',
        'deny = ["LOGIN", "Search"]\n[events]\nLOGIN = "Login"\n',
        'allow = ["PURCHASE"]\n[events]\nPURCHASE = "Purchase"\nLOGIN = "Login"\n',
    ],
)
def test_maps_name_agrees_with_map_event(tmp_path: Path, text: str, name: str) -> None:
    """A reload's names-in-use check asks maps_name; it must say what map_event does (a failed condition maps)."""
    rules = table(tmp_path, text)
    result = map_event(rules, name, {}, native=APP_NAMES)
    assert maps_name(rules, name, native=APP_NAMES) == (result.dropped in (None, "filtered"))


def test_a_crm_stage_without_a_rule_goes_as_a_custom_event(app: TestClient, tiktok: respx.Router) -> None:
    """CRM event sets take custom names, mapped to standard events in Events Manager; offline ones do not."""
    posted = event(event="Qualified", lead={"lead_id": LEAD_ID})
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    wait_for(lambda: stats_of(app, "leads")["delivered"] == 1)
    assert [(b["event_source"], b["data"][0]["event"]) for b in sent_bodies(tiktok)] == [("crm", "Qualified")]
    assert stats_of(app, "shop")["unmapped"] == 1

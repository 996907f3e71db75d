"""Mapping tables: the shipped default covers the digest's SDK names; rules; invalid files name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from forwarder.errors import MappingError
from forwarder.mapping import MappingTable, load_mappings, load_table, map_event

from .conftest import REPO

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


@pytest.mark.parametrize(("sdk_name", "tiktok_name"), sorted(DIGEST_SECTION_4_2.items()))
def test_default_table_maps_every_sdk_name(default_table: MappingTable, sdk_name: str, tiktok_name: str) -> None:
    mapped = map_event(default_table, sdk_name, {}, event_source="app", unmapped="drop")
    assert mapped is not None and mapped.event == tiktok_name and not mapped.is_custom


def test_default_table_has_nothing_beyond_the_digest(default_table: MappingTable) -> None:
    assert set(default_table.rules) == set(DIGEST_SECTION_4_2)


def test_unmapped_is_dropped_or_forwarded_as_custom(default_table: MappingTable) -> None:
    assert map_event(default_table, "LEVEL_UP_BONUS", {}, event_source="app", unmapped="drop") is None
    custom = map_event(default_table, "LEVEL_UP_BONUS", {}, event_source="app", unmapped="custom")
    assert custom is not None and custom.event == "LEVEL_UP_BONUS" and custom.is_custom


def test_tiktok_standard_names_pass_through(default_table: MappingTable) -> None:
    mapped = map_event(default_table, "Purchase", {}, event_source="app", unmapped="drop")
    assert mapped is not None and mapped.event == "Purchase" and not mapped.is_custom
    # A web-only name is not standard for an app destination: the unmapped policy applies.
    assert map_event(default_table, "CompleteRegistration", {}, event_source="app", unmapped="drop") is None


def test_rule_properties_come_from_paths_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "t.toml").write_text(
        '[events.ORDER]\nevent = "Purchase"\n'
        'properties = { value = "properties.revenue", order_id = "order.id", campaign = "ad.campaign" }\n'
        'defaults = { currency = "USD" }\n'
    )
    table = load_table(tmp_path / "t.toml")
    document = {"properties": {"revenue": 12.5, "sku": "x"}, "order": {"id": "o-1"}}
    mapped = map_event(table, "ORDER", document, event_source="app", unmapped="drop")
    assert mapped is not None
    assert mapped.properties == {"revenue": 12.5, "sku": "x", "value": 12.5, "order_id": "o-1", "currency": "USD"}
    assert mapped.rule_keys == {"value", "order_id", "campaign", "currency"}


def test_default_does_not_override_a_sent_value(tmp_path: Path) -> None:
    (tmp_path / "t.toml").write_text('[events.ORDER]\nevent = "Purchase"\ndefaults = { currency = "USD" }\n')
    mapped = map_event(
        load_table(tmp_path / "t.toml"),
        "ORDER",
        {"properties": {"currency": "EUR"}},
        event_source="app",
        unmapped="drop",
    )
    assert mapped is not None and mapped.properties["currency"] == "EUR"


@pytest.mark.parametrize(
    ("content", "key", "reason"),
    [
        ("[events\n", "", "invalid TOML"),
        ("[other]\nA = 1\n", "other", "unknown top-level key"),
        ("[events]\n", "events", "missing or empty"),
        ("[events]\nA = 3\n", "events.A", "TikTok event name or a table"),
        ('[events.A]\nevent = ""\n', "events.A.event", "non-empty"),
        ('[events.A]\nevent = "Purchase"\nrename = "x"\n', "events.A.rename", "unknown key"),
        ('[events.A]\nevent = "Purchase"\nproperties = { value = 3 }\n', "events.A.properties", "dotted paths"),
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

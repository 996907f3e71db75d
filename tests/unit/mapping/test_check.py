"""`forwarder check` on mapping tables and destinations (`check.py`): the offline and CRM catalogues, what an offline
event set refuses, the shipped tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from forwarder.cli import main
from tests.configs import example_config
from tests.unit.conftest import CRM_SET, OFFLINE_SET


def _check(tmp_path: Path, destinations: str, tables: dict[str, str]) -> int:
    """`forwarder check` on the example config plus `destinations`, with extra mapping `tables`."""
    config = example_config(tmp_path, extra=destinations)
    for name, text in tables.items():
        (tmp_path / "mappings" / f"{name}.toml").write_text(text)
    return main(["check", "--config", str(config)])


def test_check_knows_the_offline_and_crm_catalogues(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Wrong-source names get the name to use; custom names are errors for offline, a mapping hint for crm."""
    destinations = f"""
[destinations.shop]
event_source = "offline"
event_source_id = "C4ABCDEFGHIJKLMNOPQR"
access_token = "t"
mapping = "shop"
[destinations.leads]
event_source = "crm"
event_source_id = "{CRM_SET}"
access_token = "t"
mapping = "leads"
"""
    shop = (
        '[events]\nSALE = "Purchase"\nTRIAL = "StartTrial"\nSIGNUP = "Registration"\nVISIT = "InStoreVisit"\n'
        'CALL = "contact"\nOLD = "CompletePayment"\n'
    )
    leads = '[events]\nLEAD = "GenerateLead"\nWON = "ClosedWon"\nMEETING = "Schedule"\n'
    code = _check(tmp_path, destinations, {"shop": shop, "leads": leads})
    out = capsys.readouterr().out
    shop_file, leads_file = tmp_path / "mappings" / "shop.toml", tmp_path / "mappings" / "leads.toml"
    assert code == 1
    assert f"{shop_file}: events.SALE" not in out and f"{leads_file}: events.MEETING" not in out
    assert (
        f"warning: {shop_file}: events.TRIAL: 'StartTrial' is a web standard event TikTok does not list for offline "
        "event sets (destination 'shop')" in out
    )
    assert (
        f"error: {shop_file}: events.SIGNUP: 'Registration' is not an offline standard event (destination 'shop'); "
        "use 'CompleteRegistration'" in out
    )
    assert (
        f"error: {shop_file}: events.VISIT: 'InStoreVisit' is not a TikTok standard event, and offline event sets "
        "take standard events only" in out
    )
    assert f"error: {shop_file}: events.CALL: 'contact': event names are case-sensitive; use 'Contact'" in out
    assert (
        f"warning: {shop_file}: events.OLD: 'CompletePayment' is deprecated for offline events; use 'Purchase'" in out
    )
    assert (
        f"error: {leads_file}: events.LEAD: 'GenerateLead' is not a crm standard event (destination 'leads'); "
        "use 'Lead'" in out
    )
    assert (
        f"warning: {leads_file}: events.WON: 'ClosedWon' is a custom event for crm destination 'leads': map it to a "
        "standard event in TikTok Events Manager" in out
    )
    assert "warning: config: destinations.shop.event_source_id: does not look like an offline event set ID" in out
    assert "destinations.leads.event_source_id" not in out


def test_check_refuses_custom_names_for_an_offline_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    destinations = f"""
[destinations.shop]
event_source = "offline"
event_source_id = "{OFFLINE_SET}"
access_token = "t"
mapping = "crm"
"""
    assert _check(tmp_path, destinations, {}) == 1
    assert (
        "error: config: destinations.shop.unmapped: is 'custom' (here or in mapping table 'crm'), but offline event "
        "sets take standard events only" in capsys.readouterr().out
    )


def test_check_accepts_the_shipped_offline_and_crm_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    destinations = f"""
[destinations.shop]
event_source = "offline"
event_source_id = "{OFFLINE_SET}"
access_token = "t"
mapping = "offline"
[destinations.leads]
event_source = "crm"
event_source_id = "{CRM_SET}"
access_token = "t"
mapping = "crm"
lead_event_source = "HubSpot"
"""
    code = _check(tmp_path, destinations, {})
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 warning(s)" in out

"""Offline and CRM event sets as destinations (issue 13 item 5): the exact bodies TikTok gets, lead events, and the
real app delivering to the emulator. TikTok's rules: ../shared/tiktok-events-api.md section 2 and bububa's
transcription of the /event/track/ reference (model/event/track.go)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from forwarder.app import create_app
from forwarder.cli import main
from forwarder.errors import PayloadError
from forwarder.events import InboundEvent
from forwarder.explain import explain
from forwarder.mapping.planning import Routing
from forwarder.mapping.tables import load_mappings
from forwarder.settings import Settings
from forwarder.tiktok.builder import TikTokPayloads
from forwarder.tiktok.emulator import EmulatorState, create_emulator
from forwarder.tiktok.payload import build_event
from tests.configs import example_config
from tests.conftest import AUTH, event, make_settings, open_client, sent_bodies, stats_of, wait_for

OFFLINE_SET, CRM_SET = "7654321098765432109", "7123456789012345678"
LEAD_ID = "7390000000000000001"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _settings(tmp_path: Path) -> Settings:
    """An app's SDK source sending to an offline event set (in-store sales) and a CRM event set (its leads)."""
    destinations = {
        "shop": {"event_source": "offline", "event_source_id": OFFLINE_SET, "mapping": "offline"},
        "leads": {"event_source": "crm", "event_source_id": CRM_SET, "mapping": "crm", "lead_event_source": "HubSpot"},
    }
    settings = make_settings(
        tmp_path, destinations={name: {**spec, "access_token": "tok"} for name, spec in destinations.items()}
    )
    del settings.destinations["app_main"]  # conftest's app destination: these tests are about the other two
    return settings


def _populated(**overrides: Any) -> dict[str, Any]:
    """Every inbound field set: user, device, page, ad, lead, test_event_code, properties of every kind."""
    body = event(
        event_id="full-1",
        event="PURCHASE",
        timestamp=int(time.time()) - 60,
        user={
            "email": " A@Example.com ",
            "phone": "+1 (415) 555-0123",
            "external_id": "u-42",
            "ttclid": "E.C.P.click",
            "ttp": "ttp-cookie",
            "first_name": "Ada",  # TikTok's offline and CRM sources take none of these three
            "last_name": "Lovelace",
            "zip_code": "94107",
        },
        page={"url": "https://shop.example.com/thanks", "referrer": "https://shop.example.com/cart"},
        ad={"callback": "cb", "campaign_id": "c1", "ad_id": "a1", "creative_id": "cr1", "attributed": True},
        lead={"lead_id": LEAD_ID, "lead_event_source": "Salesforce"},
        test_event_code="TEST42",
        properties={
            "value": "19.98",
            "currency": "eur",
            "content_type": "product",
            "contents": [{"content_id": 7, "content_name": "Mug", "price": "9.99", "quantity": 2, "brand": "B"}],
            "num_items": 2,
            "order_id": "o-1",
            "shop_id": "store-12",
            "description": "two mugs",
            "free_text": "never forwarded",
        },
    )
    body.update(overrides)
    return body


TYPED_PROPERTIES = {
    "value": 19.98,
    "currency": "EUR",
    "content_type": "product",
    "contents": [{"content_id": "7", "content_name": "Mug", "price": 9.99, "quantity": 2, "brand": "B"}],
    "num_items": 2,
    "order_id": "o-1",
    "shop_id": "store-12",
    "description": "two mugs",
}


@pytest.fixture
def app(tmp_path: Path, tiktok: respx.Router) -> Iterator[TestClient]:
    with open_client(_settings(tmp_path), tiktok) as client:
        yield client


def _bodies_by_source(tiktok: respx.Router, count: int) -> dict[str, dict[str, Any]]:
    wait_for(lambda: len(tiktok.calls) >= count)
    return {body["event_source"]: body for body in sent_bodies(tiktok)}


def test_offline_body_field_by_field(app: TestClient, tiktok: respx.Router) -> None:
    """Offline: standard name, email and phone only, no page, app, ad or lead; test code at the top level."""
    posted = _populated()
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    body = _bodies_by_source(tiktok, 2)["offline"]
    assert body == {
        "event_source": "offline",
        "event_source_id": OFFLINE_SET,
        "partner_name": "ForwarderTests",
        "test_event_code": "TEST42",
        "data": [
            {
                "event": "Purchase",
                "event_time": posted["timestamp"],
                "event_id": "full-1",
                "user": {"email": [_sha("a@example.com")], "phone": [_sha("+14155550123")]},
                "properties": TYPED_PROPERTIES,
                "limited_data_use": False,
            }
        ],
    }


def test_crm_body_field_by_field(app: TestClient, tiktok: respx.Router) -> None:
    """CRM: the lead object, email, phone and external_id; no browser or mobile ids, no page, app or ad."""
    posted = _populated(event="GENERATE_LEAD")
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    body = _bodies_by_source(tiktok, 2)["crm"]
    assert body == {
        "event_source": "crm",
        "event_source_id": CRM_SET,
        "partner_name": "ForwarderTests",
        "test_event_code": "TEST42",
        "data": [
            {
                "event": "Lead",
                "event_time": posted["timestamp"],
                "event_id": "full-1",
                "user": {
                    "email": [_sha("a@example.com")],
                    "phone": [_sha("+14155550123")],
                    "external_id": [_sha("u-42")],
                },
                "properties": TYPED_PROPERTIES,
                "limited_data_use": False,
                "lead": {"lead_id": LEAD_ID, "lead_event_source": "Salesforce"},
            }
        ],
    }


def test_crm_lead_names_the_destinations_crm_when_the_event_does_not(app: TestClient, tiktok: respx.Router) -> None:
    posted = event(event="GENERATE_LEAD", lead={"lead_id": 7390000000000000002})  # a number: TikTok wants a string
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    body = _bodies_by_source(tiktok, 2)["crm"]
    assert body["data"][0]["lead"] == {"lead_id": "7390000000000000002", "lead_event_source": "HubSpot"}


def test_lead_id_is_read_from_properties_as_segment_sends_it(app: TestClient, tiktok: respx.Router) -> None:
    posted = event(event="GENERATE_LEAD", properties={"lead_id": "L-9", "lead_event_source": "Pipedrive"})
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    item = _bodies_by_source(tiktok, 2)["crm"]["data"][0]
    assert item["lead"] == {"lead_id": "L-9", "lead_event_source": "Pipedrive"}
    assert "lead_id" not in item["properties"]


def test_an_event_without_a_lead_id_is_not_sent_to_crm_and_is_counted(app: TestClient, tiktok: respx.Router) -> None:
    """TikTok requires lead.lead_id on crm events: the offline destination still gets the event."""
    assert app.post("/v1/events", json=event(event="PURCHASE"), headers=AUTH).status_code == 202
    wait_for(lambda: stats_of(app, "shop")["delivered"] == 1)
    assert [body["event_source"] for body in sent_bodies(tiktok)] == ["offline"]
    assert stats_of(app, "leads")["no_lead_id"] == 1


def test_a_crm_stage_without_a_rule_goes_as_a_custom_event(app: TestClient, tiktok: respx.Router) -> None:
    """CRM event sets take custom names, mapped to standard events in Events Manager; offline ones do not."""
    posted = event(event="Qualified", lead={"lead_id": LEAD_ID})
    assert app.post("/v1/events", json=posted, headers=AUTH).status_code == 202
    wait_for(lambda: stats_of(app, "leads")["delivered"] == 1)
    assert [(b["event_source"], b["data"][0]["event"]) for b in sent_bodies(tiktok)] == [("crm", "Qualified")]
    assert stats_of(app, "shop")["unmapped"] == 1


@pytest.mark.parametrize(
    ("lead", "field"),
    [({"lead_id": {"id": 1}}, "lead.lead_id"), ({"lead_id": ""}, "lead.lead_id"), ("L-1", "lead")],
)
def test_a_malformed_lead_is_a_422_naming_the_field(app: TestClient, lead: Any, field: str) -> None:
    answer = app.post("/v1/events", json=event(event="GENERATE_LEAD", lead=lead), headers=AUTH)
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["rejected"][0]["errors"]] == [field]


def test_a_malformed_properties_lead_id_is_a_422_naming_the_field(app: TestClient) -> None:
    posted = event(event="GENERATE_LEAD", properties={"lead_id": ["L-1"]})
    answer = app.post("/v1/events", json=posted, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["rejected"][0]["errors"][0]["field"] == "properties.lead_id"


def test_a_crm_item_is_never_built_without_a_lead() -> None:
    inbound = InboundEvent.model_validate(event())
    with pytest.raises(PayloadError) as raised:
        build_event(event=inbound, event_name="Lead", event_id="e", properties={}, user={}, event_source="crm")
    assert raised.value.field == "lead.lead_id"


def test_explain_says_why_a_crm_destination_gets_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    routing = Routing(settings, load_mappings(settings.mappings_dir), TikTokPayloads())
    result = explain(routing, json.dumps(event(event="GENERATE_LEAD")).encode(), "ios_app", time.time())
    leads = result["events"][0]["destinations"]["leads"]
    assert leads["status"] == "dropped" and "no lead.lead_id" in leads["reason"]
    assert result["events"][0]["destinations"]["shop"]["status"] == "send"


def test_the_real_app_delivers_offline_and_crm_events_to_the_emulator(tmp_path: Path) -> None:
    """End to end: the app's delivery loop, TikTok's envelope and the emulator's validation of both sources."""
    state = EmulatorState()
    transport = httpx.ASGITransport(app=create_emulator(state))
    now = int(time.time())
    posted = [
        event(event_id="in-store-1", event="PURCHASE", timestamp=now - 3600),
        event(event_id="call-1", event="CONTACT", timestamp=now - 1800),
        event(event_id="lead-1", event="GENERATE_LEAD", lead={"lead_id": LEAD_ID}, timestamp=now - 600),
        event(event_id="lead-2", event="ClosedWon", lead={"lead_id": LEAD_ID}, timestamp=now - 60),
    ]
    with TestClient(create_app(_settings(tmp_path), transport=transport)) as client:
        answer = client.post("/v1/events", json={"events": posted}, headers=AUTH)
        assert answer.status_code == 202 and answer.json()["accepted"] == 4
        wait_for(lambda: len(state.accepted) == 5)
        wait_for(lambda: stats_of(client, "shop")["delivered"] == 3 and stats_of(client, "leads")["delivered"] == 2)
        assert stats_of(client, "shop")["failed"] == stats_of(client, "leads")["failed"] == 0
    received = sorted((e["event_source"], e["event_source_id"], e["event_id"], e["event"]) for e in state.accepted)
    assert received == [
        ("crm", CRM_SET, "lead-1", "Lead"),
        ("crm", CRM_SET, "lead-2", "ClosedWon"),
        ("offline", OFFLINE_SET, "call-1", "Contact"),
        ("offline", OFFLINE_SET, "in-store-1", "Purchase"),
        ("offline", OFFLINE_SET, "lead-1", "Lead"),
    ]
    assert state.answers == {"0": state.requests}  # TikTok's validation, as the emulator has it, took every body
    assert {e["lead"]["lead_event_source"] for e in state.accepted if e["event_source"] == "crm"} == {"HubSpot"}


TRACK = "/open_api/v1.3/event/track/"
HASH = _sha("a@example.com")


def _tiktok_body(source: str, **item: Any) -> dict[str, Any]:
    data = {"event": "Purchase", "event_time": int(time.time()) - 60, "event_id": "e1", "user": {"email": [HASH]}}
    data.update(item)
    return {"event_source": source, "event_source_id": CRM_SET if source == "crm" else OFFLINE_SET, "data": [data]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_tiktok_body("offline"), None),
        (_tiktok_body("offline", event="Contact"), None),
        (_tiktok_body("offline", event="StartTrial"), None),  # the reference: offline takes the web standard events
        (_tiktok_body("offline", event="InStoreVisit"), "data.0.event: InStoreVisit is not a standard event"),
        (_tiktok_body("offline", event="Registration"), "data.0.event: Registration is not a standard event"),
        (_tiktok_body("crm", lead={"lead_id": LEAD_ID}), None),
        (_tiktok_body("crm", event="Qualified", lead={"lead_id": LEAD_ID, "lead_event_source": "HubSpot"}), None),
        (_tiktok_body("crm"), "data.0.lead: Missing data for required field."),
        (_tiktok_body("crm", lead={"lead_event_source": "HubSpot"}), "data.0.lead.lead_id: Missing data"),
        (_tiktok_body("crm", lead={"lead_id": 7390000000000000001}), "data.0.lead.lead_id: Not a valid string."),
        (_tiktok_body("crm", lead={"lead_id": LEAD_ID, "lead_event_source": 5}), "data.0.lead.lead_event_source"),
    ],
)
def test_the_emulator_validates_offline_and_crm_bodies(body: dict[str, Any], message: str | None) -> None:
    """Offline takes standard events only and no page; crm needs lead.lead_id and takes custom names."""
    with TestClient(create_emulator()) as emulator:
        answer = emulator.post(TRACK, json=body, headers={"Access-Token": "tok"}).json()
        if message is None:
            assert (answer["code"], answer["message"]) == (0, "OK")
            assert emulator.get("/_control/events").json()["events"][0]["event_source"] == body["event_source"]
        else:
            assert answer["code"] == 40002 and message in answer["message"]


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

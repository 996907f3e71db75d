"""TikTok's `lead` object for crm destinations (`leads.py`): where its id and CRM name are read from, and a
malformed one named."""

from __future__ import annotations

import respx
from starlette.testclient import TestClient

from tests.conftest import AUTH, event
from tests.unit.conftest import bodies_by_source as _bodies_by_source


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


def test_a_malformed_properties_lead_id_is_a_422_naming_the_field(app: TestClient) -> None:
    posted = event(event="GENERATE_LEAD", properties={"lead_id": ["L-1"]})
    answer = app.post("/v1/events", json=posted, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["rejected"][0]["errors"][0]["field"] == "properties.lead_id"

"""Helpers and fixtures the unit tests of several packages share (the root conftest has the app's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from starlette.testclient import TestClient

from forwarder.settings import Settings
from tests.conftest import make_settings, open_client, sent_bodies, wait_for


def client_for(tmp_path: Path, **source: Any) -> TestClient:
    """The app with one source, `app` (keys `key-one` and `key-two`, plus `source`), and delivery off."""
    settings = make_settings(
        tmp_path, sources={"app": {"keys": ["key-one", "key-two"], **source}}, delivery={"enabled": False}
    )
    return open_client(settings, respx.Router())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# Offline and CRM event sets as destinations (issue 13 item 5); TikTok's rules: ../shared/tiktok-events-api.md
# section 2 and bububa's transcription of the /event/track/ reference (model/event/track.go).
OFFLINE_SET, CRM_SET = "7654321098765432109", "7123456789012345678"
LEAD_ID = "7390000000000000001"


def offline_and_crm_settings(tmp_path: Path) -> Settings:
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


@pytest.fixture
def app(tmp_path: Path, tiktok: respx.Router) -> Iterator[TestClient]:
    """The app on `offline_and_crm_settings`, sending to the scripted TikTok."""
    with open_client(offline_and_crm_settings(tmp_path), tiktok) as client:
        yield client


def bodies_by_source(tiktok: respx.Router, count: int) -> dict[str, dict[str, Any]]:
    """The request bodies TikTok got, by event source, once there are `count` of them."""
    wait_for(lambda: len(tiktok.calls) >= count)
    return {body["event_source"]: body for body in sent_bodies(tiktok)}

"""`forwarder check --online`: one test event per destination, to learn whether TikTok takes its token and id.

The event carries a `test_event_code`, so TikTok shows it under Events Manager -> Test Events and does not count
it as traffic. TikTok's code is turned into what to fix: the token (40105), the token's rights over this event
source (40001), or the event source id itself (40002 naming `event_source_id`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from ..errors import DeliveryError, Outcome
from ..events import InboundEvent
from ..settings import DestinationSettings, Settings
from .client import EventsApiClient, track_body
from .payload import build_event, envelope
from .user import hashed_user

DEFAULT_TEST_EVENT_CODE = "FORWARDER_CHECK"
_TEST_EVENTS = {"app": "LaunchAPP", "web": "ViewContent"}


@dataclass(frozen=True)
class Verdict:
    destination: str
    ok: bool
    outcome: Outcome
    test_event_code: str

    def __str__(self) -> str:
        told = f"TikTok said {self.outcome.code}: {self.outcome.message}"
        if self.outcome.code is None:
            told = f"answer: {self.outcome.message}"
        request = f", request_id {self.outcome.request_id}" if self.outcome.request_id else ""
        if self.ok:
            return (
                f"ok: destinations.{self.destination}: token and event source id work ({told}{request}); the test "
                f"event is in Events Manager -> Test Events under code {self.test_event_code!r}"
            )
        return f"error: destinations.{self.destination}: {self._advice()} ({told}{request})"

    def _advice(self) -> str:
        code, message = self.outcome.code, self.outcome.message
        if code == 40105:
            return "TikTok refused the access token (wrong, expired or revoked): generate a new one in Events Manager"
        if code == 40001:
            return (
                "the access token may not send to this event source: its user must be an admin or operator of the "
                "ad account that owns it (app events via the Events API are enabled per advertiser by TikTok)"
            )
        if code == 40002 and "event_source_id" in message:
            return (
                "TikTok does not take this event_source_id: an app destination needs the TikTok App ID, a web one "
                "the pixel code"
            )
        if code is None:
            return "TikTok could not be reached or answered without its envelope: check tiktok.base_url"
        return "TikTok refused the test event"


def test_event(settings: Settings, destination: DestinationSettings, test_event_code: str, now: float) -> bytes:
    """The request body of one test event for `destination` (a launch for apps, a page view for web)."""
    app_id = next(iter(destination.app_ids or []), None) or next(
        (source.app_id for source in settings.sources.values() if source.app_id), "forwarder.check"
    )
    event = InboundEvent.model_validate(
        {
            "event": "forwarder_check",
            "timestamp": int(now),
            "app": {"id": app_id},
            "user": {"external_id": "forwarder-check"},
            "page": {"url": destination.page_url} if destination.page_url else None,
        }
    )
    item = build_event(
        event=event,
        event_name=_TEST_EVENTS.get(destination.event_source, "ViewContent"),
        event_id=f"forwarder-check-{uuid.uuid4().hex}",
        properties={},
        user=hashed_user(event, settings.tiktok.default_phone_region),
        event_source=destination.event_source,
        page_url=destination.page_url,
    )
    head = envelope(
        event_source=destination.event_source,
        event_source_id=destination.event_source_id,
        data=[],
        partner_name=settings.tiktok.partner_name,
        test_event_code=test_event_code,
    )
    return track_body(head, [orjson.dumps(item)])


async def verify_destinations(
    settings: Settings,
    *,
    test_event_code: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    now: float | None = None,
) -> list[Verdict]:
    """Send one test event per destination to `tiktok.base_url`; what TikTok answered each. The test event code
    is `test_event_code`, else the destination's own, else FORWARDER_CHECK."""
    verdicts = []
    async with httpx.AsyncClient(timeout=settings.delivery.timeout_s, transport=transport) as http:
        client = EventsApiClient(http, settings.tiktok.base_url, scrub=_scrubber(settings))
        for name, destination in settings.destinations.items():
            code = test_event_code or destination.test_event_code or DEFAULT_TEST_EVENT_CODE
            body = test_event(settings, destination, code, time.time() if now is None else now)
            try:
                outcome = await client.send(body, destination.access_token.get_secret_value())
            except DeliveryError as error:
                verdicts.append(Verdict(name, False, error.outcome, code))
            else:
                verdicts.append(Verdict(name, True, outcome, code))
    return verdicts


def _scrubber(settings: Settings) -> Callable[[str], str]:
    secrets = settings.secrets()

    def scrub(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "[redacted]")
        return text

    return scrub

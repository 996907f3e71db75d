"""The TikTok Events API as a delivery `Destination`: one event source, its token and its rate limit.

What is TikTok's and not the loop's lives here: a request per test event code, the 40002 split that finds the
offending event, the 20001 partial answer, and which refusals pause the destination (`codes.py` is the table).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import groupby
from typing import TYPE_CHECKING, Any

import structlog

from ..delivery.destination import SendAgain, Settled, Verdict
from ..delivery.passes import log_failure
from ..errors import Outcome, PermanentError
from ..settings import DestinationSettings, Settings
from ..store import Claimed, State
from .client import EventsApiClient, is_rate_limited, track_body
from .codes import classify_code, operator_reason
from .payload import envelope

if TYPE_CHECKING:
    from ..destination_kinds import Shared as SharedConnections

log = structlog.get_logger(__name__)

KIND = "tiktok_events_api"

# TikTok names the offending event of a 40002 in some messages: "Batch.3.properties..." or "data.3.event_id".
_EVENT_INDEX = re.compile(r"\b(?:[Bb]atch|data)\.(\d+)\.")


class EventsApiDestination:
    """`POST /event/track/` for one configured destination over the shared `EventsApiClient`."""

    def __init__(
        self, name: str, settings: DestinationSettings, client: EventsApiClient, partner_name: str | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = client
        self.partner_name = partner_name

    @property
    def rate_limit_per_s(self) -> float:
        return self.settings.rate_limit_per_s

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency

    def requests(self, rows: list[Claimed]) -> list[list[Claimed]]:
        """One request per test event code: TikTok takes it once per request, in the envelope."""
        by_test_code = sorted(rows, key=lambda c: (c.test_event_code or "", c.id))
        return [list(group) for _, group in groupby(by_test_code, key=lambda c: c.test_event_code or "")]

    async def send(self, rows: list[Claimed]) -> list[Verdict]:
        body = track_body(
            envelope(
                event_source=self.settings.event_source,
                event_source_id=self.settings.event_source_id,
                data=[],
                partner_name=self.partner_name,
                test_event_code=rows[0].test_event_code,
            ),
            [row.payload for row in rows],
        )
        try:
            outcome = await self.client.send(body, self.settings.access_token.get_secret_value())
        except PermanentError as error:
            if error.outcome.code == 40002 and len(rows) > 1:
                return self._isolate(rows, error)
            raise
        if outcome.refused is not None:
            return self._partial(rows, outcome)
        log.info("delivery.delivered", destination=self.name, events=len(rows), request_id=outcome.request_id)
        return [Settled(rows, State.DELIVERED, outcome)]

    def _isolate(self, rows: list[Claimed], error: PermanentError) -> list[Verdict]:
        """A 40002 on a batch: fail only the offending event(s) and deliver the rest."""
        log_failure("delivery.isolating", self.name, rows, error)
        match = _EVENT_INDEX.search(error.outcome.message)
        if match and int(match.group(1)) < len(rows):
            index = int(match.group(1))
            bad, rest = rows[index], rows[:index] + rows[index + 1 :]
            return [Settled([bad], State.FAILED, error.outcome), SendAgain(rest, error.outcome)]
        middle = len(rows) // 2
        return [SendAgain(rows[:middle], error.outcome), SendAgain(rows[middle:], error.outcome)]

    def _partial(self, rows: list[Claimed], outcome: Outcome) -> list[Verdict]:
        """A 20001: fail the events TikTok names as refused, deliver the rest; never a plain success.

        When the answer names no event, a batch is split in two and each half sent again (TikTok's event_id dedup
        absorbs what it already took) until each refusal is pinned to its event.
        """
        refused = outcome.refused or {}
        log.warning(
            "delivery.partial",
            destination=self.name,
            events=len(rows),
            refused=len(refused),
            message=outcome.message,
            request_id=outcome.request_id,
        )
        if not refused and len(rows) > 1:
            middle = len(rows) // 2
            return [SendAgain(rows[:middle], outcome), SendAgain(rows[middle:], outcome)]
        verdicts: list[Verdict] = [
            Settled(
                [row],
                State.FAILED,
                _partial_outcome(outcome, f"refused in a partial answer (20001): {refused[index]}"),
            )
            for index, row in enumerate(rows)
            if index in refused
        ]
        kept = [row for index, row in enumerate(rows) if index not in refused]
        if kept:
            note = (
                f"accepted in a partial answer (20001) that refused {len(refused)} of {len(rows)} events"
                if refused
                else "TikTok answered 20001 (partial) for this event without naming what it refused"
            )
            verdicts.append(Settled(kept, State.DELIVERED, _partial_outcome(outcome, note)))
        return verdicts

    def is_rate_limited(self, outcome: Outcome) -> bool:
        return is_rate_limited(outcome)

    def refusal(self, outcome: Outcome) -> tuple[str, str]:
        """A setting refused gets what to fix in its reason; a token refused, TikTok's message."""
        code = outcome.code
        if code is not None and classify_code(code, outcome.message) == "config":
            return "configuration", operator_reason(code, outcome.message)
        return "credentials", outcome.message

    def describe(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "event_source": self.settings.event_source,
            "event_source_id": self.settings.event_source_id,
        }


def events_api_destination(
    name: str, destination: DestinationSettings, settings: Settings, shared: SharedConnections
) -> EventsApiDestination:
    """The destination kind's factory (`destination_kinds.py`): one Events API destination on the shared pool."""
    client = EventsApiClient(shared.http, settings.tiktok.base_url, scrub=shared.scrub)
    return EventsApiDestination(name, destination, client, settings.tiktok.partner_name)


def events_api_destinations(
    destinations: Mapping[str, DestinationSettings], client: EventsApiClient, partner_name: str | None = None
) -> dict[str, EventsApiDestination]:
    """A destination per configured `[destinations.NAME]` on one client (tests that script the client)."""
    return {name: EventsApiDestination(name, d, client, partner_name) for name, d in destinations.items()}


def _partial_outcome(outcome: Outcome, message: str) -> Outcome:
    message = f"{message}; TikTok: {outcome.message}"
    return Outcome(outcome.http_status, outcome.code, message, outcome.request_id, partial=True)

"""Every code of TikTok's return-code table: through the classifier, then through the emulator end to end
(a real SQLite store, a real delivery pass, the emulator app answering over httpx's ASGI transport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from forwarder.delivery.passes import Delivery, deliver_due
from forwarder.errors import (
    AuthError,
    DeliveryError,
    PermanentError,
    RateLimited,
    RetryableError,
    SettingRefused,
    UnknownCodeError,
)
from forwarder.metrics import Metrics
from forwarder.settings import Settings
from forwarder.store import IngestWrite, OutboxItem, SQLiteStore, State
from forwarder.tiktok.client import EventsApiClient, classify
from forwarder.tiktok.codes import TABLE, classify_code, lookup
from forwarder.tiktok.emulator import create_emulator
from forwarder.tiktok.events_api import events_api_destinations
from tests.conftest import ACCESS_TOKEN

pytestmark = pytest.mark.anyio

EXPECTED: dict[str, type[DeliveryError] | None] = {
    "ok": None,
    "partial": None,
    "credential": AuthError,
    "config": SettingRefused,
    "rate_limit": RateLimited,
    "tiktok": RetryableError,
    "event": PermanentError,
}
CODES = sorted(TABLE)


def answer(code: int, message: str = "scripted", **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": message, "request_id": "r-1", **extra})


@pytest.mark.parametrize("code", CODES)
def test_every_code_of_the_table_is_classified_by_its_class(code: int) -> None:
    row = TABLE[code]
    assert row.meaning and row.action and row.evidence
    expected = EXPECTED[row.kind]
    if expected is None:
        outcome = classify(answer(code))
        assert outcome.code == code
        assert (outcome.refused is not None) == (row.kind == "partial")  # 20001 is never a plain success
        return
    with pytest.raises(expected) as raised:
        classify(answer(code))
    assert type(raised.value) is expected and raised.value.outcome.code == code


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (40002, "Invalid value for event_source_id: not a valid string.", "config"),  # stape #33: the envelope
        (40002, "Invalid value for partner_name.", "config"),
        (40002, "Invalid value for event_id: not a valid string.", "event"),  # stape #10: one event
        (40002, "data.3.event_source_id: Not a valid string", "event"),  # a path into an event
        (51999, "internal", "tiktok"),  # every 5xxxx is TikTok's side
        (41999, "brand new", "unknown"),
    ],
)
def test_codes_outside_the_table_and_envelope_40002(code: int, message: str, kind: str) -> None:
    assert classify_code(code, message) == kind
    if kind == "unknown":
        with pytest.raises(UnknownCodeError):
            classify(answer(code, message))


def test_a_partial_answer_names_its_refused_events_by_index_or_path() -> None:
    data = {"failed_events": [{"index": 1, "code": 40002, "message": "bad currency"}, {"index": "x"}]}
    assert classify(answer(20001, "Partial success.", data=data)).refused == {1: "bad currency"}
    assert classify(answer(20001, "data.4.properties.value: Not a valid number")).refused == {
        4: "data.4.properties.value: Not a valid number"
    }
    assert classify(answer(20001, "Partial success.")).refused == {}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def item(event_id: str) -> OutboxItem:
    payload = {"event": "StartTrial", "event_time": 1_799_999_000, "event_id": event_id, "app": {"app_id": "a.b"}}
    return OutboxItem("app_main", "StartTrial", event_id, json.dumps(payload).encode(), None)


class Emulated:
    """The emulator app as TikTok, scripted over its own control route, and a delivery pass against it."""

    def __init__(self, store: SQLiteStore, settings: Settings, **policy: Any) -> None:
        self.app = create_emulator()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://emulator")
        self.clock = Clock()
        self.store = store
        self.delivery = Delivery(
            store=store,
            destinations=events_api_destinations(
                settings.destinations, EventsApiClient(self.http, "http://emulator"), partner_name="ForwarderTests"
            ),
            policy=settings.delivery.model_copy(update=policy),
            owner="codes",
            clock=self.clock,
            metrics=Metrics(),
        )

    async def script(self, **spec: Any) -> None:
        (await self.http.post("/_control/script", json=spec)).raise_for_status()

    async def view(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.http.get("/_control/events")).json()
        return result

    async def rows(self) -> dict[str, tuple[int, int, str]]:
        query = "SELECT event_id, state, attempts, last_message FROM outbox"
        return {
            event_id: (state, attempts, message) for event_id, state, attempts, message in await self.store.query(query)
        }


@pytest.mark.parametrize("code", CODES)
async def test_every_code_through_the_emulator_behaves_as_its_class(
    code: int, store: SQLiteStore, settings: Settings
) -> None:
    row = TABLE[code]
    tiktok = Emulated(store, settings, max_attempts=2, max_age_h=1, breaker_failures=2, pause_probe_base_s=60)
    await store.enqueue(IngestWrite([item("e1")]), tiktok.clock.now)
    await tiktok.script(responses=[{"code": code, "message": f"scripted {code}"}] * 3)
    await deliver_due(tiktok.delivery)
    (state, attempts, message), pauses = (await tiktok.rows())["e1"], await store.pauses()
    ledger = [c for (c,) in await store.query("SELECT tiktok_code FROM attempts ORDER BY id")]
    assert ledger[0] == code
    if row.kind == "ok":
        assert (state, pauses) == (State.DELIVERED, {})
    elif row.kind == "partial":
        assert state == State.DELIVERED and "20001" in message  # recorded as partial, never a plain OK
    elif row.kind in ("credential", "config"):
        pause = pauses["app_main"]
        assert (state, attempts, pause.code) == (State.PENDING, 0, code)  # the events wait, uncounted
        assert pause.kind == ("credentials" if row.kind == "credential" else "configuration")
        if row.kind == "config":
            assert row.action in pause.reason  # the reason says what to fix
        tiktok.clock.now += 61
        await tiktok.script(responses=[])
        assert await deliver_due(tiktok.delivery) == 1  # the probe ...
        assert (await tiktok.rows())["e1"][0] == State.PENDING and (await store.pauses())["app_main"].probes == 1
        await tiktok.http.post("/_control/reset")
        tiktok.clock.now += 121
        assert await deliver_due(tiktok.delivery) == 1  # ... succeeds once TikTok accepts: resumed
        assert (await tiktok.rows())["e1"][0] == State.DELIVERED and await store.pauses() == {}
    elif row.kind == "rate_limit":
        assert (state, attempts, pauses) == (State.PENDING, 0, {})  # backed off, no attempt spent
        for _ in range(2):
            tiktok.clock.now += 3 * 3600  # past max_age_h and breaker_failures: still no failure, no pause
            await deliver_due(tiktok.delivery)
        assert (await tiktok.rows())["e1"][:2] == (State.PENDING, 0) and await store.pauses() == {}
    elif row.kind == "tiktok":
        assert (state, attempts, pauses) == (State.PENDING, 1, {})
        tiktok.clock.now += 600
        await deliver_due(tiktok.delivery)  # max_attempts reached, but younger than max_age_h: kept
        assert (await tiktok.rows())["e1"][:2] == (State.PENDING, 2)
        tiktok.clock.now += 3600
        await deliver_due(tiktok.delivery)
        state, _, message = (await tiktok.rows())["e1"]
        assert state == State.FAILED and message.startswith("gave up after 3 attempts")
    else:
        assert row.kind == "event"
        assert (state, attempts, pauses) == (State.FAILED, 1, {})


async def test_a_partial_answer_fails_only_the_events_tiktok_names(store: SQLiteStore, settings: Settings) -> None:
    tiktok = Emulated(store, settings)
    await store.enqueue(IngestWrite([item(f"e{i}") for i in range(5)]), tiktok.clock.now)
    await tiktok.script(partial_event_ids=["e1", "e3"])
    await deliver_due(tiktok.delivery)
    rows = await tiktok.rows()
    assert {e: r[0] for e, r in rows.items()} == {
        "e0": State.DELIVERED,
        "e1": State.FAILED,
        "e2": State.DELIVERED,
        "e3": State.FAILED,
        "e4": State.DELIVERED,
    }
    assert "refused in a partial answer (20001)" in rows["e1"][2] and "partial_event_ids" in rows["e1"][2]
    assert "accepted in a partial answer (20001) that refused 2 of 5 events" in rows["e0"][2]
    assert sorted(e["event_id"] for e in (await tiktok.view())["events"]) == ["e0", "e2", "e4"]
    assert (await tiktok.view())["requests"] == 1
    assert tiktok.delivery.metrics is not None
    sample = tiktok.delivery.metrics.registry.get_sample_value
    labels = {"destination": "app_main"}
    assert sample("forwarder_events_partial_total", {**labels, "outcome": "delivered"}) == 3
    assert sample("forwarder_events_partial_total", {**labels, "outcome": "refused"}) == 2


async def test_a_partial_answer_naming_nothing_is_split_until_each_event_is_settled(
    store: SQLiteStore, settings: Settings
) -> None:
    tiktok = Emulated(store, settings)
    await store.enqueue(IngestWrite([item(f"e{i}") for i in range(4)]), tiktok.clock.now)
    await tiktok.script(responses=[{"code": 20001, "message": "Partial success."}])
    await deliver_due(tiktok.delivery)
    assert {r[0] for r in (await tiktok.rows()).values()} == {State.DELIVERED}
    assert (await tiktok.view())["requests"] == 3  # the whole batch, then each half
    ledger = await store.query("SELECT outbox_id, tiktok_code FROM attempts ORDER BY id")
    assert sorted(code for _, code in ledger) == [0] * 4 + [20001] * 4  # the partial answer stays in each ledger


def test_lookup_gives_the_operator_meaning_and_action() -> None:
    row = lookup(40105)
    assert row is not None and row.kind == "credential" and "access token" in row.action
    assert lookup(12345) is None
    assert ACCESS_TOKEN not in repr(TABLE)

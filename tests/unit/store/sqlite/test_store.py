"""A model of the outbox, checked by hypothesis against the real SQLite store.

Rules ingest, claim, acknowledge, fail, crash (an owner forgets its claims) and advance the clock, in any order.
After every step each accepted event is in exactly the state the model says; a delivered event is never claimed
again; a stale owner's acknowledgement changes nothing; and an event is dead only when the retry policy says so.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from forwarder.delivery.passes import Delivery, _retry
from forwarder.errors import Outcome, RetryableError
from forwarder.settings import DeliverySettings
from forwarder.store import Claimed, IngestWrite, OutboxItem, Resolution, SQLiteStore, State

LEASE_S = 30.0
OWNERS = ("A", "B")
POLICY = DeliverySettings(max_attempts=3, max_age_h=1.0, retry_base_s=1.0, retry_cap_s=10.0, timeout_s=5, lease_s=30)


@dataclass
class Row:
    state: State
    attempts: int = 0
    owner: str | None = None
    due: float = 0.0  # pending: when due; in flight: when the lease ends
    created: float = 0.0


class OutboxModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp(prefix="outbox-model-"))
        self.store = SQLiteStore(self.directory / "outbox.db")
        self.run(self.store.open())
        self.now = 1_800_000_000.0
        self.rows: dict[str, Row] = {}
        self.ids: dict[str, int] = {}  # event id -> outbox row id
        self.held: dict[str, list[Claimed]] = {owner: [] for owner in OWNERS}  # what each owner believes it holds
        self.delivery = Delivery(
            store=self.store,
            destinations={},
            policy=POLICY,
            owner="model",
            clock=lambda: self.now,
        )

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(numbers=st.lists(st.integers(0, 30), min_size=1, max_size=5))
    def ingest(self, numbers: list[int]) -> None:
        items = [OutboxItem("d", "Purchase", f"e{n}", b'{"event":"Purchase"}') for n in numbers]
        inserted = self.run(self.store.enqueue(IngestWrite(items), self.now))
        for item, is_new in zip(items, inserted, strict=True):
            assert is_new == (item.event_id not in self.rows)  # dedup: the first copy only
            if is_new:
                self.rows[item.event_id] = Row(State.PENDING, due=self.now, created=self.now)

    @rule(owner=st.sampled_from(OWNERS), limit=st.integers(1, 8))
    def claim(self, owner: str, limit: int) -> None:
        claimed = self.run(self.store.claim_due(owner, "d", limit, self.now, LEASE_S))
        claimable = {
            event_id
            for event_id, row in self.rows.items()
            if row.state in (State.PENDING, State.IN_FLIGHT) and row.due <= self.now
        }
        assert len(claimed) == min(limit, len(claimable))
        for row in claimed:
            assert row.event_id in claimable  # never a delivered, dead or still-leased event
            model = self.rows[row.event_id]
            model.state, model.owner, model.due = State.IN_FLIGHT, owner, self.now + LEASE_S
            model.attempts += 1
            assert row.attempts == model.attempts
            self.ids[row.event_id] = row.id
        self.held[owner] = [c for c in self.held[owner] if c.event_id not in {r.event_id for r in claimed}] + claimed

    def _resolve(self, owner: str, resolution: Resolution) -> None:
        changed = self.run(self.store.resolve(owner, [resolution], self.now))
        expected = 0
        for event_id, row_id in self.ids.items():
            model = self.rows[event_id]
            if row_id in resolution.ids and model.state == State.IN_FLIGHT and model.owner == owner:
                expected += 1
                model.state, model.owner = resolution.state, None
                model.due = resolution.next_attempt_at or self.now
        assert changed == expected  # acknowledgements are fenced by owner
        self.held[owner] = [c for c in self.held[owner] if c.id not in resolution.ids]

    @precondition(lambda self: any(self.held.values()))
    @rule(owner=st.sampled_from(OWNERS), data=st.data())
    def acknowledge(self, owner: str, data: st.DataObject) -> None:
        if not self.held[owner]:
            return
        rows = data.draw(st.lists(st.sampled_from(self.held[owner]), min_size=1, unique_by=lambda c: c.id))
        self._resolve(owner, Resolution([c.id for c in rows], State.DELIVERED, Outcome(200, 0, "OK")))

    @precondition(lambda self: any(self.held.values()))
    @rule(owner=st.sampled_from(OWNERS), data=st.data())
    def fail_retryable(self, owner: str, data: st.DataObject) -> None:
        if not self.held[owner]:
            return
        row = data.draw(st.sampled_from(self.held[owner]))
        resolution = _retry(self.delivery, [row], RetryableError(Outcome(503, None, "down")), [])
        model = self.rows[row.event_id]
        if model.state == State.IN_FLIGHT and model.owner == owner:  # a stale owner's verdict changes nothing
            age = self.now - model.created
            should_die = model.attempts >= POLICY.max_attempts and age >= POLICY.max_age_h * 3600
            assert (resolution.state == State.FAILED) == should_die  # dead only when the policy says so
        self._resolve(owner, resolution)

    @precondition(lambda self: any(self.held.values()))
    @rule(owner=st.sampled_from(OWNERS), data=st.data())
    def fail_permanently(self, owner: str, data: st.DataObject) -> None:
        if not self.held[owner]:
            return
        row = data.draw(st.sampled_from(self.held[owner]))
        self._resolve(owner, Resolution([row.id], State.FAILED, Outcome(200, 40002, "bad")))

    @rule(owner=st.sampled_from(OWNERS))
    def crash(self, owner: str) -> None:
        """The owner dies: its claims stay in flight until their leases end."""
        self.held[owner] = []

    @rule(seconds=st.sampled_from([1.0, 10.0, 31.0, 600.0, 3600.0]))
    def advance_clock(self, seconds: float) -> None:
        self.now += seconds

    @invariant()
    def every_event_is_in_exactly_the_modelled_state(self) -> None:
        rows = self.run(self.store.query("SELECT event_id, state, attempts, lease_owner FROM outbox"))
        assert len(rows) == len(self.rows)  # one row per accepted event, whatever happened
        for event_id, state, attempts, owner in rows:
            model = self.rows[event_id]
            assert (state, attempts) == (model.state, model.attempts), event_id
            assert owner == (model.owner if state == State.IN_FLIGHT else None)


OutboxModel.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_outbox_model = OutboxModel.TestCase

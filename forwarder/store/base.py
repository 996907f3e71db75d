"""What every store backend offers: dedup, a durable outbox with leased claims, counters and stats."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple, Protocol

from ..errors import Outcome
from .audiences import ActivityRecord, AudienceLedger, AudienceSignal
from .marketing import MarketingStore
from .reports import ReportStore


class State(IntEnum):
    PENDING = 0
    IN_FLIGHT = 1
    DELIVERED = 2
    FAILED = 3
    HELD = 4  # an order conflict: kept, never claimed, until an operator releases it


class Stored(IntEnum):
    """What `enqueue` did with one item. Only NEW is truthy: a NEW item is due for delivery, nothing else is."""

    DUPLICATE = 0  # its (event_id, destination, TikTok event) was seen within the dedup window
    NEW = 1
    ORDER_DUPLICATE = 2  # the same order, with the same content, was reported earlier by a source it dedups with
    HELD = 3  # the same order was reported earlier with a different value, currency or TikTok event

    def __bool__(self) -> bool:
        return self is Stored.NEW


class OutboxItem(NamedTuple):
    """One mapped TikTok event for one destination; `payload` is its `data[]` item as JSON, PII hashed.

    A named tuple, not a dataclass: one is built per event and destination on the ingest path.
    """

    destination: str
    event: str
    event_id: str
    payload: bytes
    test_event_code: str | None = None
    mapping_version: str = ""  # table@content-hash that produced this item


@dataclass(frozen=True)
class Claimed:
    id: int
    destination: str
    event: str
    event_id: str
    payload: bytes
    test_event_code: str | None
    attempts: int  # including the attempt this claim starts
    created_at: float = 0.0


@dataclass
class Resolution:
    """The result of one Events API request for the outbox rows it carried."""

    ids: list[int]
    state: State  # DELIVERED, FAILED, or PENDING (retry at next_attempt_at)
    outcome: Outcome
    next_attempt_at: float | None = None
    earlier: list[Outcome] = field(default_factory=list)  # requests before `outcome` that carried these rows
    counts_as_attempt: bool = True  # False when the destination, not the events, was at fault (bad token)


@dataclass(frozen=True)
class Pause:
    """A paused destination: its events wait and one event probes it at `probe_at`.

    `kind` is "credentials" (TikTok refused the token or permission) or "breaker" (requests kept failing).
    """

    destination: str
    reason: str
    code: int | None  # the destination's answer code; stored and shown in /v1/stats as `tiktok_code`
    paused_at: float
    probe_at: float
    probes: int
    kind: str = "credentials"


# An order match as the ledger and the status page show it: a report of an order that was not sent because a
# source it dedups with reported the order first (`kind` duplicate, `status` dropped) or reported it differently
# (`kind` conflict, `status` held, released or expired).
ORDER_MATCH_COLUMNS = (
    "id",
    "at",
    "destination",
    "order_id",
    "kind",
    "status",
    "differs",
    "event_id",
    "source",
    "event",
    "value",
    "currency",
    "first_event_id",
    "first_source",
    "first_event",
    "first_value",
    "first_currency",
)

NOT_FORWARDED_COLUMNS = ("event", "source", "reason", "count", "first_at", "last_at", "event_id")

# Counters are keyed by (scope, name, metric), e.g. ("destination", "main", "delivered").
CounterKey = tuple[str, str, str]


class OrderClaim(NamedTuple):
    """`items[item]` carries a store transaction id: it is also deduplicated by order (README "one purchase").

    The item is dropped as a duplicate only if a source in `sources` (its own and the ones it names in
    `dedup_orders_with`) reported the order earlier in the dedup window; held if that report's TikTok event,
    value or currency differ.
    """

    item: int  # its position in IngestWrite.items
    order_id: str
    source: str
    sources: tuple[str, ...]
    value: float | None
    currency: str | None


class NotForwarded(NamedTuple):
    """Events of one name from one source that were accepted and sent nowhere, for one reason, in one request;
    `event_id` is the last one's, a sample an operator can look up in the ledger."""

    event: str
    source: str
    reason: str  # unmapped, filtered, denied, no_destination, or mixed (destinations differ)
    events: int  # how many
    event_id: str


@dataclass
class IngestWrite:
    """Everything one ingest request commits at once: outbox items (deduplicated) and counters."""

    items: list[OutboxItem]
    counters: Counter[CounterKey] = field(default_factory=Counter)
    inbound: list[InboundRecord] = field(default_factory=list)
    orders: list[OrderClaim] = field(default_factory=list)  # only the items that carry an order id
    not_forwarded: list[NotForwarded] = field(default_factory=list)
    audience_signals: list[AudienceSignal] = field(default_factory=list)
    activity: list[ActivityRecord] = field(default_factory=list)  # what past-behaviour rules and goals count


class InboundRecord(NamedTuple):
    """A valid inbound event as received (email, phone, external_id already hashed), kept to preview mappings."""

    source: str
    event_id: str
    event: str
    document: bytes


@dataclass(frozen=True)
class DeadFilter:
    """Which dead letters (failed events) to list or replay; every field narrows, None matches all."""

    destination: str | None = None
    since: float | None = None  # failed at or after
    until: float | None = None  # failed before
    tiktok_code: int | None = None
    event: str | None = None  # the TikTok event name
    event_id: str | None = None
    limit: int = 1000

    def conditions(self) -> list[tuple[str, Any]]:
        """(column and operator, value) for every filter set; each backend adds its own placeholders."""
        wanted = [
            ("destination =", self.destination),
            ("next_attempt_at >=", self.since),
            ("next_attempt_at <", self.until),
            ("last_code =", self.tiktok_code),
            ("event =", self.event),
            ("event_id =", self.event_id),
        ]
        return [(condition, value) for condition, value in wanted if value is not None]


class Store(MarketingStore, ReportStore, Protocol):
    """Every backend; the Marketing API connection's methods are in `MarketingStore` (marketing.py), the reports'
    in `ReportStore` (reports.py)."""

    audiences: AudienceLedger  # the audience membership ledger (store/audiences.py)

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def enqueue(self, write: IngestWrite, now: float) -> list[Stored]:
        """Commit new items and counters in one transaction; per item, whether it was new or why it was not."""
        ...

    async def claim_due(self, owner: str, destination: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        """Lease up to `limit` due rows of one destination (pending and due, or whose lease expired) to `owner`."""
        ...

    async def resolve(self, owner: str, resolutions: list[Resolution], now: float) -> int:
        """Record attempts and move rows to their new state, only where `owner` still holds the lease."""
        ...

    async def take_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        """A destination's request rate limit, kept in the store so replicas share it: 0 to go now, else a wait."""
        ...

    async def take_delivery_token(self, destination: str, rate: float, burst: float, now: float) -> float:
        """A destination's rate limit for the delivery loop, shared by every process delivering from this store:
        `take_token`, but a SQLite store serving alone (no shared writer) keeps it in memory, as it does ingest
        keys' (no group commit per request; a restart refills it, within a second at the default rate)."""
        ...

    async def take_key_token(self, key_id: str, rate: float, burst: float, now: float) -> float:
        """An ingest key's rate limit, shared by every process serving from this store (workers, replicas):
        0 to go on (a token taken), else the seconds until a token will be there."""
        ...

    async def release(self, owner: str, ids: list[int]) -> None:
        """Give leased rows back as pending without counting an attempt (clean shutdown)."""
        ...

    async def stats(self, now: float) -> dict[str, Any]: ...

    async def backlog(self) -> int:
        """Events stored and not yet delivered or dead, from the counters (cheap at any backlog size)."""
        ...

    async def size_bytes(self) -> int:
        """What the store occupies on disk."""
        ...

    async def pauses(self) -> dict[str, Pause]: ...

    async def pause(self, pause: Pause) -> None:
        """Pause a destination (or record another failed probe of a paused one)."""
        ...

    async def resume(self, destination: str) -> None: ...

    async def purge(
        self, now: float, *, dedup_window_s: float, delivered_retention_s: float, inbound_retention_s: float, limit: int
    ) -> int:
        """Delete expired dedup keys, old delivered rows, inbound records and stats buckets, `limit` of each."""
        ...

    async def recent_inbound(self, limit: int) -> list[tuple[float, InboundRecord]]:
        """The latest stored inbound events, newest first, with when they were received."""
        ...

    async def ledger(self, event_id: str) -> dict[str, Any]:
        """Everything known about one event_id: receipts, outbox rows per destination, every delivery attempt."""
        ...

    async def dead_letters(self, where: DeadFilter) -> list[dict[str, Any]]:
        """Failed events matching `where`, newest failure first."""
        ...

    async def replay_dead(self, where: DeadFilter, now: float) -> int:
        """Make matching failed events pending again with a fresh attempt budget; same event_id. How many."""
        ...

    async def recent_errors(self, limit: int) -> list[dict[str, Any]]:
        """The latest attempts TikTok (or the network) did not accept, newest first."""
        ...

    async def series(self, since: float) -> list[tuple[float, str, str, int]]:
        """Per 5-minute bucket since `since`: (bucket start, destination, metric, count)."""
        ...

    async def order_conflicts(self, limit: int) -> list[dict[str, Any]]:
        """The latest order conflicts (a report of an order that differs from the first one), newest first."""
        ...

    async def release_held(self, conflict_id: int, now: float) -> bool:
        """Send a held conflicting report after all (pending now, same event_id); False if none is held by that id."""
        ...

    async def not_forwarded(self, limit: int) -> list[dict[str, Any]]:
        """Names of events accepted and sent nowhere, most frequent first: event, source, reason, count, first_at,
        last_at and the last one's event_id (names seen lately: rows unseen for two days are purged)."""
        ...

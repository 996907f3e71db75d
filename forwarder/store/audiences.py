"""What the audience sync asks of a store: the membership ledger (`store.audiences`), the same on both backends.

Ingest applies `AudienceSignal`s in its own transaction (`IngestWrite.audience_signals`); the sync loop
(audiences/sync.py) runs the timers, claims rows to send with a lease, and settles them with TikTok's answer.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class AudienceSignal(NamedTuple):
    """One event's effect on one audience (audiences/signals.py); identifiers hashed."""

    audience: str
    action: str  # enter | cancel (the `unless` event) | exit
    event_id: str  # each event acts once per audience and action, however often it is sent
    ids: str  # JSON {"email": sha256, "phone": ..., "idfa": ..., "gaid": ..., "external_id": ...}
    sync_types: str  # JSON list of the audience's identifiers: a user with none of them is not synced
    at: float  # the event's time
    due_at: float | None  # enter with `unless`: a member from then on, unless cancelled before
    expires_at: float | None  # enter with a TTL
    consent_held: str | None  # limited_data_use | att_denied: recorded, never sent
    holdout_share: float = 0.0  # the audience's control group: users entering are held out by keyed hash
    holdout_key: str | None = None  # its HMAC key (None: derived from the audience's name)


class ActivityRecord(NamedTuple):
    """One event a past-behaviour rule (`activity`) or a goal (`goal`) counts, for one hashed user."""

    kind: str  # activity | goal
    key: str  # the event's normalised name, with a digest of the rule's `when` when it has one
    event_id: str  # each event counts once however often it is sent
    ids: str  # JSON, as AudienceSignal.ids
    at: float
    value: float | None  # properties.value
    consent: str | None  # limited_data_use | att_denied, as the event said


class PastRun(NamedTuple):
    """A past-behaviour run's result, applied at once: who qualifies and how each is held (None: a member)."""

    audience: str
    last_run: float | None  # the run this one follows: another replica that ran first makes this one a no-op
    run_at: float
    users: list[tuple[str, str | None, float]]  # (user_key, held: control_group|over_cap|consent|None, since)
    sync_types: str  # JSON list: a user with none of them is not synced


class MemberClaim(NamedTuple):
    user_key: str
    state: str  # in | out: what to make TikTok hold
    ids: dict[str, str]
    version: int
    first_failure_at: float | None = None  # when sending this change first failed: the retry horizon counts from it


class Settlement(NamedTuple):
    user_key: str
    version: int
    outcome: str  # synced | retry | errored | release
    sent_state: str
    next_attempt_at: float
    problem: str | None
    request_id: str | None


class AudienceLedger(Protocol):
    async def timers(self, now: float) -> int:
        """Pending members whose `unless` window passed enter; members past their TTL leave. Rows changed."""
        ...

    async def claim(
        self, owner: str, audience: str, limit: int, now: float, lease_s: float, max_members: int | None = None
    ) -> list[MemberClaim]:
        """Rows whose desired state TikTok does not have yet, oldest change first, leased to `owner`."""
        ...

    async def settle(self, owner: str, audience: str, settlements: list[Settlement], now: float) -> None: ...

    async def forget(self, ids: list[tuple[str, str]], now: float) -> int:
        """Erase the users these (type, hash) pairs name; members TikTok holds are deleted there first."""
        ...

    async def save(self, name: str, fields: dict[str, Any]) -> None:
        """Upsert the audience's own row (tiktok_id, advertiser_id, status, problem, sizes ...)."""
        ...

    async def begin_creation(self, name: str, owner: str, now: float, lease_s: float) -> bool:
        """Whether `owner` may create the audience at TikTok now (one replica at a time, none once it exists)."""
        ...

    async def reset_synced(self, name: str, now: float) -> None: ...

    async def states(self) -> dict[str, dict[str, Any]]:
        """Each audience's own row."""
        ...

    async def figures(self) -> dict[str, dict[str, Any]]:
        """Per audience: members by state, pending, not synced (held, by reason), errored, counters, daily."""
        ...

    async def members_of(self, ids: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The ledger rows of the user these identifiers name, for `explain` (no identifiers in the answer)."""
        ...

    async def qualifying(
        self, did: str, since_day: str, at_least: int, value_at_least: float | None, not_did: str | None
    ) -> list[tuple[str, float, str | None, str]]:
        """Users whose activity `did` since `since_day` (UTC, inclusive) meets the rule and who have no `not_did`
        then: (user_key, first time seen doing it, latest consent, their identifier types as JSON)."""
        ...

    async def apply_run(self, run: PastRun, now: float) -> dict[str, int] | None:
        """Apply a past-behaviour run's change set in one transaction; None when another run came first."""
        ...

    async def outcomes(
        self, audience: str, goal: str
    ) -> tuple[list[tuple[str, str, float]], list[tuple[str, float, float]]]:
        """For lift: (user_key, members|control, when their window opened) and the goal's (user_key, at, value)."""
        ...

    async def purge_activity(self, before: float) -> int:
        """Activity, conversions and seen-marks older than `before` go (the configured retention)."""
        ...

"""`[audiences.NAME]`: a TikTok audience kept in sync from live event rules, and `[audience_sync]` (how).

    [audiences.trial_no_purchase]
    description = "Started a trial and did not buy within 3 days"
    advertiser_id = "7002238017842757633"
    identifiers = ["email", "phone", "idfa", "gaid"]        # EMAIL_SHA256, PHONE_SHA256, IDFA_SHA256, AAID_SHA256
    enter = { event = "START_TRIAL" }                        # with `when` conditions, as mapping rules have
    unless = { event = "PURCHASE", within_s = 259200 }       # enter only if PURCHASE does not follow within 3 days
    exit = { event = "PURCHASE" }                            # and/or ttl_s: leave that long after entering

Or from past behaviour, evaluated on a schedule over the activity table (audiences/past.py):

    past = { did = "PURCHASE", at_least = 2, value_at_least = 50, within_days = 30, not_did = "REFUND",
             when = { "properties.currency" = "EUR" }, schedule = "every 24h" }   # "once" | "at 2026-12-24T08:00Z"

and for either kind a control group, a target cap and a goal to measure lift by:

    holdout_share = 0.1                                      # 10% of qualifying users held out (never sent), counted
    max_members = 100000                                     # at most this many members at TikTok at a time
    goal = { event = "PURCHASE", within_days = 14 }          # conversions counted this long after joining
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .settings_marketing import Identifier
from .settings_sections import _Section

MAX_USERS_PER_REQUEST = 10_000  # TikTok's cap for /segment/mapping/
NAME_MAX = 70  # TikTok truncates longer audience names to 67 + "..."
ALL_IDENTIFIERS: tuple[Identifier, ...] = ("email", "phone", "idfa", "gaid")


class EventRule(_Section):
    event: str = Field(min_length=1)  # the inbound name, matched however it is written (START_TRIAL, start_trial)
    when: dict[str, Any] = Field(default_factory=dict)  # dotted path -> value or test, as in mapping tables


class UnlessRule(EventRule):
    within_s: float = Field(gt=0, le=90 * 86400)


_SCHEDULE = re.compile(r"^(once|at (?P<at>\S+)|every (?P<n>\d+(\.\d+)?)(?P<unit>[mhd]))$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}


class PastRule(_Section):
    """Did `did` at least `at_least` times (with a total value >= `value_at_least`) in the last `within_days`, and
    not `not_did` in that time; `when` narrows which `did` events count, as in mapping rules."""

    did: str = Field(min_length=1)
    when: dict[str, Any] = Field(default_factory=dict)
    at_least: int = Field(1, ge=1)
    value_at_least: float | None = None  # the sum of properties.value of the counted events
    within_days: int = Field(30, ge=1, le=3650)
    not_did: str | None = Field(None, min_length=1)
    schedule: str = "every 24h"  # once | at <ISO time> | every <N>m|h|d

    @field_validator("schedule")
    @classmethod
    def _schedule_is_known(cls, value: str) -> str:
        match = _SCHEDULE.match(value.strip())
        if match is None:
            raise ValueError('schedule must be "once", "at <ISO time>" or "every <N>m|h|d"')
        if match["at"]:
            at = datetime.fromisoformat(match["at"].replace("Z", "+00:00"))
            if at.tzinfo is None:
                raise ValueError("schedule: an `at` time needs its time zone (Z or +hh:mm)")
        if match["n"] and float(match["n"]) <= 0:
            raise ValueError("schedule: every needs a positive interval")
        return value.strip()

    def next_run(self, last_run: float | None) -> float | None:
        """When the rule is due next, given its last run (None: never ran); None: never again."""
        match = _SCHEDULE.match(self.schedule)
        assert match is not None
        if match["at"]:
            at = datetime.fromisoformat(match["at"].replace("Z", "+00:00")).timestamp()
            return at if last_run is None or last_run < at else None
        if match["n"]:
            return 0.0 if last_run is None else last_run + float(match["n"]) * _UNIT_S[match["unit"]]
        return 0.0 if last_run is None else None  # once


class GoalRule(_Section):
    """The conversion lift is measured by: this event (with `when`) within `within_days` of joining."""

    event: str = Field(min_length=1)
    when: dict[str, Any] = Field(default_factory=dict)
    within_days: float = Field(14, gt=0, le=365)


class AudienceSettings(_Section):
    description: str = Field("", max_length=200)
    advertiser_id: str = Field(min_length=1)
    # Attach to an audience that exists in TikTok; without one the audience is created on first use, named
    # `tiktok_name` (default: the definition's name).
    audience_id: str | None = Field(None, min_length=1)
    tiktok_name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    identifiers: list[Identifier] = Field(default_factory=lambda: list(ALL_IDENTIFIERS), min_length=1)
    enter: EventRule | None = None  # live rules ...
    past: PastRule | None = None  # ... or past behaviour: one of them
    unless: UnlessRule | None = None
    exit: EventRule | None = None
    ttl_s: float | None = Field(None, gt=0)
    # Users who asked for limited data use, or denied tracking (ATT), are not synced unless these say so.
    sync_limited_data_use: bool = False
    sync_att_denied: bool = False
    recreate_if_deleted: bool = False  # an audience deleted in TikTok: make a new one, or stop and say so
    retry_horizon_h: float = Field(13.0, gt=0)  # Braze retries for ~13 hours, then counts users as errored
    # A control group: this share of qualifying users is held out (recorded, counted, never sent), chosen by an
    # HMAC of the user keyed by `holdout_key` and the audience's name (default key: derived from the name).
    holdout_share: float = Field(0.0, ge=0.0, lt=1.0)
    holdout_key: str | None = Field(None, min_length=16)
    # A target cap: past-behaviour runs keep the lowest keyed scores; live audiences send the first to enter.
    max_members: int | None = Field(None, ge=1)
    goal: GoalRule | None = None

    @field_validator("advertiser_id", "audience_id", mode="before")
    @classmethod
    def _ids_are_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("identifiers")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("identifiers must not repeat (TikTok refuses a repeated id type)")
        return value

    @model_validator(mode="after")
    def _can_leave(self) -> AudienceSettings:
        if (self.enter is None) == (self.past is None):
            raise ValueError("give either enter (live rules) or past (past behaviour), not both or neither")
        if self.past is not None and (self.unless or self.exit or self.ttl_s):
            raise ValueError("unless, exit and ttl_s are live rules: a past-behaviour audience is its rule's result")
        enter, leave = self.enter, self.exit
        if enter is not None and leave is not None and leave.event == enter.event and leave.when == enter.when:
            raise ValueError("exit is the same rule as enter: a user would leave as they enter")
        return self


class AudienceSyncSettings(_Section):
    enabled: bool = True  # sync with TikTok (off: rules still record members, nothing is sent)
    flush_interval_s: float = Field(5.0, gt=0, le=300)  # pending changes are sent at least this often
    max_users_per_request: int = Field(MAX_USERS_PER_REQUEST, ge=1, le=MAX_USERS_PER_REQUEST)
    lease_s: float = Field(60.0, gt=0)  # a replica's claim on members it is syncing (kill -9: taken back after)
    retry_base_s: float = Field(5.0, gt=0)
    retry_cap_s: float = Field(900.0, gt=0)
    probe_after_s: float = Field(60.0, gt=0)  # an advertiser paused by a refused credential is tried again then
    size_poll_h: float = Field(24.0, gt=0)  # how often audience sizes are read from TikTok
    mode: Literal["live"] = "live"  # how live rules apply: at ingest
    # The per-user activity past-behaviour rules and goals read (hashed users only): kept this long, at least as
    # long as the longest within_days plus the longest goal window.
    activity_retention_days: int = Field(400, ge=1)
    lift_min_users: int = Field(100, ge=2)  # matured users each group needs before lift is computed

"""`[audiences.NAME]`: a TikTok audience kept in sync from live event rules, and `[audience_sync]` (how).

    [audiences.trial_no_purchase]
    description = "Started a trial and did not buy within 3 days"
    advertiser_id = "7002238017842757633"
    identifiers = ["email", "phone", "idfa", "gaid"]        # EMAIL_SHA256, PHONE_SHA256, IDFA_SHA256, AAID_SHA256
    enter = { event = "START_TRIAL" }                        # with `when` conditions, as mapping rules have
    unless = { event = "PURCHASE", within_s = 259200 }       # enter only if PURCHASE does not follow within 3 days
    exit = { event = "PURCHASE" }                            # and/or ttl_s: leave that long after entering

Past-behaviour rules, a target cap and a control group are not here yet; their keys are refused by name.
"""

from __future__ import annotations

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


class AudienceSettings(_Section):
    description: str = Field("", max_length=200)
    advertiser_id: str = Field(min_length=1)
    # Attach to an audience that exists in TikTok; without one the audience is created on first use, named
    # `tiktok_name` (default: the definition's name).
    audience_id: str | None = Field(None, min_length=1)
    tiktok_name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    identifiers: list[Identifier] = Field(default_factory=lambda: list(ALL_IDENTIFIERS), min_length=1)
    enter: EventRule
    unless: UnlessRule | None = None
    exit: EventRule | None = None
    ttl_s: float | None = Field(None, gt=0)
    # Users who asked for limited data use, or denied tracking (ATT), are not synced unless these say so.
    sync_limited_data_use: bool = False
    sync_att_denied: bool = False
    recreate_if_deleted: bool = False  # an audience deleted in TikTok: make a new one, or stop and say so
    retry_horizon_h: float = Field(13.0, gt=0)  # Braze retries for ~13 hours, then counts users as errored

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
        if self.exit is not None and self.exit.event == self.enter.event and self.exit.when == self.enter.when:
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
    mode: Literal["live"] = "live"  # live rules only (past-behaviour rules are the next step)

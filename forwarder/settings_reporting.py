"""Settings of the report puller and the Performance views (`[reporting]`, README "Reporting and KPIs")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from .settings_sections import _Section

# TikTok's names for the attributed conversion counts the puller may read (reporting/rows.py METRICS).
CONVERSION_METRICS = (
    "conversion",
    "purchase",
    "total_purchase",
    "total_purchase_value",
    "start_trial",
    "total_start_trial",
    "subscribe",
    "total_subscribe",
    "total_subscribe_value",
    "registration",
    "total_registration",
)


class ReportingSettings(_Section):
    """Pull TikTok's spend and results with the `[marketing]` credential and put them beside what we forwarded."""

    enabled: bool = True  # pulls only once a Marketing API credential exists (a token, or Connect TikTok)
    # TikTok restates recent days as late conversions are attributed: these are re-pulled once a day.
    trailing_days: int = Field(7, ge=1, le=365)
    today_refresh_s: float = Field(3600.0, ge=60)  # today's figures grow through the day
    trailing_refresh_s: float = Field(86400.0, ge=600)
    page_size: int = Field(1000, ge=1, le=1000)  # rows per page; TikTok allows up to 1,000
    # The attributed conversion metrics read besides spend, impressions, clicks and installs; others stay unknown.
    conversion_events: list[str] = Field(default_factory=lambda: list(CONVERSION_METRICS))
    cpa_event: str = "conversion"  # the event CPA divides spend by (TikTok's optimisation event by default)
    # Our event names whose acknowledged value counts as revenue in blended ROAS.
    revenue_events: list[str] = Field(default_factory=lambda: ["Purchase", "CompletePayment", "Subscribe"])
    include_subscriptions: bool = False  # attributed ROAS adds total_subscribe_value to total_purchase_value
    # CSV of `day,base,quote,rate` (1 base = rate quote from that day on) to convert forwarded revenue into the
    # advertiser's currency; without a rate, revenue is shown unconverted with a warning.
    rates_file: Path | None = None
    lease_s: float = Field(300.0, ge=10)  # one replica pulls at a time; another takes over after this long
    retry_s: float = Field(60.0, ge=1)  # after a refused or failed pull (rate limits back off from here)
    audit_far_fewer_ratio: float = Field(0.2, gt=0, le=1)  # flag days TikTok reports < ratio x acknowledged
    audit_min_acknowledged: int = Field(20, ge=1)  # ... once at least this many were acknowledged

    @field_validator("conversion_events")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(CONVERSION_METRICS))
        if unknown:
            raise ValueError(f"unknown conversion metrics {unknown}; choose among {', '.join(CONVERSION_METRICS)}")
        return value

    @field_validator("cpa_event")
    @classmethod
    def _known_cpa_event(cls, value: Any) -> Any:
        allowed = ("app_install", *CONVERSION_METRICS)
        if value not in allowed or value.endswith("_value"):
            raise ValueError(f"cpa_event must be one of {', '.join(m for m in allowed if not m.endswith('_value'))}")
        return value

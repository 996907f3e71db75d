"""Deterministic, realistic report figures: per advertiser four campaigns, one of them deleted, one dark at weekends.

Each (advertiser, campaign, day) draws from its own seeded generator, so any window gives the same numbers; a
restatement factor from `/_control/script` scales that day's attributed conversions and values, as TikTok's
attribution restates recent days (digest §8.4). Today is scaled by the share of the day elapsed in the advertiser's
time zone; later days have no rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

COUNTS = ("impressions", "clicks", "reach")
ATTRIBUTED_COUNTS = (
    "app_install",
    "conversion",
    "purchase",
    "total_purchase",
    "start_trial",
    "total_start_trial",
    "subscribe",
    "total_subscribe",
    "registration",
    "total_registration",
)
MONEY = ("spend",)
ATTRIBUTED_MONEY = ("total_purchase_value", "total_subscribe_value")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    deleted: bool = False
    weekdays_only: bool = False


def campaigns(advertiser_id: str) -> list[Campaign]:
    stem = "17" + advertiser_id[-10:]
    return [
        Campaign(f"{stem}01", "App installs - US broad"),
        Campaign(f"{stem}02", "Retarget trial no purchase"),
        Campaign(f"{stem}03", "Weekday subscriptions", weekdays_only=True),
        Campaign(f"{stem}04", "Old test campaign", deleted=True),
    ]


def daily(advertiser_id: str, campaign: Campaign, day: date, factor: float, share: float) -> dict[str, Decimal]:
    """Raw sums for one campaign and day: counts as whole numbers, money to the cent."""
    rng = random.Random(f"{advertiser_id}|{campaign.campaign_id}|{day.isoformat()}")
    dark = (campaign.weekdays_only and day.weekday() >= 5) or rng.random() < 0.08
    impressions = 0 if dark else int(rng.randint(6_000, 40_000) * share)
    clicks = int(impressions * rng.uniform(0.006, 0.02))
    spend = Decimal(impressions * rng.uniform(4.0, 12.0) / 1000).quantize(CENT, ROUND_HALF_UP)
    installs = int(clicks * rng.uniform(0.15, 0.35) * factor)
    trials = int(installs * rng.uniform(0.1, 0.3))
    purchases = int(installs * rng.uniform(0.02, 0.08))
    subscribes = int(trials * rng.uniform(0.2, 0.5))
    registrations = int(installs * rng.uniform(0.3, 0.6))
    figures = {
        "impressions": impressions,
        "clicks": clicks,
        "reach": int(impressions * 0.7),
        "app_install": installs,
        "conversion": installs,
        "purchase": purchases,
        "total_purchase": purchases + purchases // 4,
        "start_trial": trials,
        "total_start_trial": trials,
        "subscribe": subscribes,
        "total_subscribe": subscribes,
        "registration": registrations,
        "total_registration": registrations,
    }
    values = {
        "spend": spend,
        "total_purchase_value": Decimal(figures["total_purchase"] * rng.uniform(4.99, 19.99)).quantize(CENT),
        "total_subscribe_value": Decimal(subscribes * 9.99).quantize(CENT),
    }
    return {**{k: Decimal(v) for k, v in figures.items()}, **values}


def _ratio(numerator: Decimal, denominator: Decimal, scale: int = 1) -> str:
    if not denominator:
        return "-"
    return str((numerator * scale / denominator).quantize(CENT, ROUND_HALF_UP))


def metric(name: str, sums: dict[str, Decimal]) -> str | int | None:
    """A metric as TikTok writes it: strings for numbers, "-" where there is nothing to divide; None if unknown."""
    if name == "app_install":
        return int(sums[name])  # Airbyte's fixture shows this one as a JSON number
    if name in COUNTS or name in ATTRIBUTED_COUNTS:
        return str(int(sums[name]))
    if name in MONEY or name in ATTRIBUTED_MONEY:
        return str(sums[name].quantize(CENT))
    spend, impressions, clicks = sums["spend"], sums["impressions"], sums["clicks"]
    ratios = {
        "ctr": (clicks, impressions, 100),
        "cpc": (spend, clicks, 1),
        "cpm": (spend, impressions, 1000),
        "cost_per_conversion": (spend, sums["conversion"], 1),
        "cost_per_app_install": (spend, sums["app_install"], 1),
        "conversion_rate_v2": (sums["conversion"], clicks, 100),
        "total_active_pay_roas": (sums["total_purchase_value"], spend, 1),
        "frequency": (impressions, sums["reach"], 1),
    }
    if name in ratios:
        return _ratio(*ratios[name])
    return None

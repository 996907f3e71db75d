"""KPIs from raw sums, never from TikTok's per-row ratios; a zero or unknown operand gives `None` ("no value").

Rates are percentages, as TikTok's own `ctr` and `conversion_rate_v2` are, so the two can be read side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from forwarder.reporting.rows import Figures
from forwarder.reporting.values import add, divide

# Events a CPA can be asked for: TikTok's optimisation event and its counts of each app event.
CPA_EVENTS = (
    "conversion",
    "app_install",
    "purchase",
    "total_purchase",
    "start_trial",
    "total_start_trial",
    "subscribe",
    "total_subscribe",
    "registration",
    "total_registration",
)


@dataclass(frozen=True)
class Kpis:
    """The growth team's table row for one set of sums."""

    cpi: Decimal | None
    ipm: Decimal | None
    cpm: Decimal | None
    cpc: Decimal | None
    ctr_pct: Decimal | None
    click_to_install_pct: Decimal | None
    conversion_rate_pct: Decimal | None
    cpa: Decimal | None
    attributed_roas: Decimal | None


def cpa(figures: Figures, event: str = "conversion") -> Decimal | None:
    """Spend per attributed event of the chosen kind."""
    if event not in CPA_EVENTS:
        raise ValueError(f"no CPA for {event!r}; choose one of {', '.join(CPA_EVENTS)}")
    return divide(figures.spend, figures.metric(event))


def attributed_revenue(figures: Figures, *, include_subscriptions: bool = False) -> Decimal | None:
    """TikTok-attributed value: `total_purchase_value`, plus `total_subscribe_value` when asked."""
    if include_subscriptions:
        return add(figures.total_purchase_value, figures.total_subscribe_value)
    return figures.total_purchase_value


def attributed_roas(figures: Figures, *, include_subscriptions: bool = False) -> Decimal | None:
    """ROAS as TikTok attributes it: attributed value / spend, both in the advertiser's currency."""
    return divide(attributed_revenue(figures, include_subscriptions=include_subscriptions), figures.spend)


def compute_kpis(figures: Figures, *, cpa_event: str = "conversion", include_subscriptions: bool = False) -> Kpis:
    """Every KPI of issue 16 from one set of sums."""
    return Kpis(
        cpi=divide(figures.spend, figures.app_install),
        ipm=divide(figures.app_install, figures.impressions, scale=1000),
        cpm=divide(figures.spend, figures.impressions, scale=1000),
        cpc=divide(figures.spend, figures.clicks),
        ctr_pct=divide(figures.clicks, figures.impressions, scale=100),
        click_to_install_pct=divide(figures.app_install, figures.clicks, scale=100),
        conversion_rate_pct=divide(figures.conversion, figures.clicks, scale=100),
        cpa=cpa(figures, cpa_event),
        attributed_roas=attributed_roas(figures, include_subscriptions=include_subscriptions),
    )

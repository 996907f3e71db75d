"""KPI arithmetic against figures worked out by hand in each test."""

from datetime import date
from decimal import Decimal

import pytest

from forwarder.reporting.aggregate import by_campaign, by_day, currencies, total
from forwarder.reporting.kpis import attributed_roas, compute_kpis, cpa
from forwarder.reporting.rows import ReportRow, parse_row

DAY1, DAY2 = date(2026, 3, 7), date(2026, 3, 8)


def _row(campaign: str | None, day: date, **metrics: object) -> ReportRow:
    dimensions: dict[str, object] = {"stat_time_day": f"{day} 00:00:00"}
    if campaign is not None:
        dimensions["campaign_id"] = campaign
    return parse_row({"dimensions": dimensions, "metrics": metrics}, advertiser_id="7000", currency="USD")


ZEROES = dict.fromkeys(
    ("purchase", "start_trial", "total_start_trial", "subscribe", "total_subscribe", "registration"), "0"
) | {"total_registration": "0"}

ROWS = [
    # Campaign A, day 1: TikTok's cpm would be 3.00, day 2: 8.00; their average (5.50) is not A's CPM.
    _row("A", DAY1, spend="120.00", impressions="40000", clicks="400", app_install=30, conversion="12",
         total_purchase="5", total_purchase_value="150.00", total_subscribe_value="30.00", **ZEROES),
    _row("A", DAY2, spend="80.00", impressions="10000", clicks="100", app_install="10", conversion="8",
         total_purchase="5", total_purchase_value="50.00", total_subscribe_value="0.00", **ZEROES),
    # Campaign B delivered nothing: zero impressions, zero clicks, zero installs.
    _row("B", DAY1, spend="0.00", impressions="0", clicks="0", app_install="0", conversion="0", total_purchase="0",
         total_purchase_value="0.00", total_subscribe_value="0.00", **ZEROES),
    # Campaign C: installs unknown.
    _row("C", DAY2, spend="25.00", impressions="5000", clicks="50", app_install="-", conversion="2",
         total_purchase="0", total_purchase_value="0.00", total_subscribe_value="0.00", **ZEROES),
    _row(None, DAY1, spend="120.00", impressions="40000"),
    _row(None, DAY2, spend="105.00", impressions="15000"),
]  # fmt: skip


def test_kpis_of_a_campaign_over_two_days_come_from_its_sums() -> None:
    """A: spend 200, impressions 50,000, clicks 500, installs 40, conversions 20, purchases 10, value 200."""
    kpis = compute_kpis(by_campaign(ROWS, DAY1, DAY2)["A"])
    assert kpis.cpi == Decimal(5)  # 200 / 40
    assert kpis.ipm == Decimal("0.8")  # 40 / 50,000 x 1,000
    assert kpis.cpm == Decimal(4)  # 200 / 50,000 x 1,000, not (3 + 8) / 2
    assert kpis.cpc == Decimal("0.4")  # 200 / 500
    assert kpis.ctr_pct == Decimal(1)  # 500 / 50,000 x 100
    assert kpis.click_to_install_pct == Decimal(8)  # 40 / 500 x 100
    assert kpis.conversion_rate_pct == Decimal(4)  # 20 / 500 x 100
    assert kpis.cpa == Decimal(10)  # 200 / 20 conversions
    assert kpis.attributed_roas == Decimal(1)  # 200 / 200


def test_cpa_for_a_chosen_event() -> None:
    figures = by_campaign(ROWS, DAY1, DAY2)["A"]
    assert cpa(figures, "total_purchase") == Decimal(20)  # 200 / 10
    assert cpa(figures, "total_subscribe") is None  # 200 / 0
    with pytest.raises(ValueError, match="no CPA"):
        cpa(figures, "spend")


def test_attributed_roas_may_include_subscription_value() -> None:
    figures = by_campaign(ROWS, DAY1, DAY2)["A"]
    assert attributed_roas(figures, include_subscriptions=True) == Decimal("1.15")  # (200 + 30) / 200


def test_zero_impressions_clicks_and_installs_give_no_value_not_zero() -> None:
    kpis = compute_kpis(by_campaign(ROWS, DAY1, DAY2)["B"])
    assert kpis.cpi is None
    assert kpis.ipm is None
    assert kpis.cpm is None
    assert kpis.cpc is None
    assert kpis.ctr_pct is None
    assert kpis.click_to_install_pct is None
    assert kpis.conversion_rate_pct is None
    assert kpis.cpa is None
    assert kpis.attributed_roas is None


def test_unknown_installs_leave_install_kpis_unknown_and_the_rest_intact() -> None:
    kpis = compute_kpis(by_campaign(ROWS, DAY1, DAY2)["C"])
    assert (kpis.cpi, kpis.ipm, kpis.click_to_install_pct) == (None, None, None)
    assert kpis.cpm == Decimal(5)  # 25 / 5,000 x 1,000
    assert kpis.ctr_pct == Decimal(1)  # 50 / 5,000 x 100
    assert kpis.cpa == Decimal("12.5")  # 25 / 2


def test_an_unknown_day_makes_the_range_total_unknown() -> None:
    figures = total(ROWS, DAY1, DAY2)
    assert figures.spend == Decimal(225)  # 120 + 80 + 0 + 25
    assert figures.app_install is None  # C's "-" is not read as 0
    assert compute_kpis(figures).cpi is None


def test_date_range_is_inclusive_and_levels_do_not_mix() -> None:
    assert total(ROWS, DAY1, DAY1).spend == Decimal(120)  # A + B on day 1
    assert total(ROWS, DAY2, DAY2, level="advertiser").spend == Decimal(105)
    assert by_day(ROWS, DAY1, DAY2)[DAY2].impressions == 15000
    assert set(by_campaign(ROWS, DAY2, DAY2)) == {"A", "C"}
    with pytest.raises(ValueError, match="empty date range"):
        total(ROWS, DAY2, DAY1)


def test_rows_report_their_currencies() -> None:
    assert currencies(ROWS) == {"USD"}

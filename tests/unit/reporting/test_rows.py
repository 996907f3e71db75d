from dataclasses import fields
from datetime import date
from decimal import Decimal

import pytest

from forwarder.reporting.rows import METRICS, Figures, parse_row


def test_figures_keep_every_requested_metric_in_order() -> None:
    assert tuple(f.name for f in fields(Figures)) == METRICS


def test_campaign_day_row_parses_strings_numbers_and_dashes() -> None:
    """The shape of Airbyte's fixture: strings for numbers, `app_install` as a JSON number, `"-"` for empty."""
    item = {
        "dimensions": {"stat_time_day": "2026-03-08 00:00:00", "campaign_id": "11111111"},
        "metrics": {
            "campaign_name": "Website Traffic",
            "spend": "20.00",
            "impressions": "4696",
            "clicks": "51",
            "ctr": "1.09",
            "app_install": 0,
            "conversion": "-",
            "total_purchase_value": "12.34",
        },
    }
    row = parse_row(item, advertiser_id="7000", currency="USD")
    assert (row.level, row.advertiser_id, row.campaign_id) == ("campaign", "7000", "11111111")
    assert row.day == date(2026, 3, 8)
    assert (row.currency, row.campaign_name) == ("USD", "Website Traffic")
    assert row.figures.spend == Decimal("20.00")
    assert row.figures.impressions == 4696
    assert row.figures.app_install == 0
    assert row.figures.conversion is None
    assert row.figures.total_purchase_value == Decimal("12.34")
    assert row.figures.subscribe is None  # not requested is unknown, not zero


def test_advertiser_day_row_has_no_campaign_and_may_carry_its_currency() -> None:
    item = {
        "dimensions": {"stat_time_day": "2026-03-08", "advertiser_id": "7001"},
        "metrics": {"spend": "5.5", "currency": "EUR"},
    }
    row = parse_row(item, advertiser_id="7000", currency="USD")
    assert (row.level, row.advertiser_id, row.campaign_id, row.currency) == ("advertiser", "7001", None, "EUR")


def test_row_without_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="stat_time_day"):
        parse_row({"dimensions": {"campaign_id": "1"}, "metrics": {}}, advertiser_id="7000", currency="USD")


def test_unknown_metric_name_is_an_error() -> None:
    with pytest.raises(KeyError):
        Figures().metric("purchases")

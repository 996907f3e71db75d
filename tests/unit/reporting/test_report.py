"""The report document pinned against hand-computed figures: KPIs from sums, a day with zero impressions, a day with
zero installs, revenue in another currency converted by the dated rate table (and one without a rate), and an
event that falls on the previous day in the advertiser's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from forwarder.reporting.export import to_csv, to_table
from forwarder.reporting.forwarded import ForwardedEvent
from forwarder.reporting.report import advertiser_report
from forwarder.reporting.rows import Figures, ReportRow
from forwarder.settings import Settings
from tests.conftest import make_settings

US = "7002238017842757633"
ADVERTISER = {"advertiser_id": US, "name": "US", "currency": "USD", "timezone": "America/Los_Angeles"}
D1, D2 = date(2026, 11, 27), date(2026, 11, 28)


def row(level: str, day: date, campaign: str | None = None, **figures: str) -> ReportRow:
    values = {name: Decimal(value) for name, value in figures.items()}
    return ReportRow(level, US, campaign, day, "USD", Figures(**values), "Campaign " + campaign if campaign else None)  # type: ignore[arg-type]


ROWS = [
    # Day 1: c1 delivered; c2 spent nothing and showed nothing (zero impressions).
    row("campaign", D1, "c1", spend="50", impressions="20000", clicks="200", app_install="40", conversion="10",
        total_purchase_value="75"),
    row("campaign", D1, "c2", spend="0", impressions="0", clicks="0", app_install="0"),
    row("advertiser", D1, spend="50", impressions="20000", clicks="200", app_install="40", conversion="10",
        total_purchase_value="75"),
    # Day 2: c1 spent but got no installs.
    row("campaign", D2, "c1", spend="30", impressions="10000", clicks="100", app_install="0"),
    row("advertiser", D2, spend="30", impressions="10000", clicks="100", app_install="0"),
]  # fmt: skip


def purchase(event_id: str, at: str, value: str, currency: str, acknowledged: bool = True) -> ForwardedEvent:
    when = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return ForwardedEvent(event_id, "Purchase", when, acknowledged, Decimal(value), currency, frozenset({"email"}))


EVENTS = [
    purchase("p1", "2026-11-27T20:00:00", "40", "USD"),
    # 07:30 UTC on the 28th is 23:30 on the 27th in Los Angeles: it belongs to day 1.
    purchase("p2", "2026-11-28T07:30:00", "10", "EUR"),
    purchase("p3", "2026-11-28T20:00:00", "99", "USD", acknowledged=False),  # TikTok never acknowledged it
    purchase("p4", "2026-11-28T21:00:00", "5", "GBP"),  # no GBP rate: shown unconverted, with a warning
]


def settings(tmp_path: Path) -> Settings:
    rates = tmp_path / "rates.csv"
    rates.write_text("day,base,quote,rate\n2026-11-01,EUR,USD,1.10\n2026-11-28,EUR,USD,1.20\n")
    return make_settings(tmp_path, reporting={"rates_file": str(rates)})


def test_campaign_kpis_come_from_sums_and_divide_by_zero_gives_no_value(tmp_path: Path) -> None:
    section = advertiser_report(settings(tmp_path), ADVERTISER, ROWS, EVENTS, D1, D2, "campaign")
    c1, c2 = section["rows"]
    # c1 over two days: spend 80, impressions 30000, clicks 300, installs 40, conversions 10, value 75.
    assert c1["figures"]["spend"] == "80" and c1["campaign_name"] == "Campaign c1"
    assert c1["kpis"] == {
        "cpi": "2.0000",  # 80 / 40
        "ipm": "1.3333",  # 40 / 30000 x 1000
        "cpm": "2.6667",  # 80 / 30000 x 1000
        "cpc": "0.2667",  # 80 / 300
        "ctr_pct": "1.0000",  # 300 / 30000 x 100
        "click_to_install_pct": "13.3333",  # 40 / 300 x 100
        "conversion_rate_pct": "3.3333",  # 10 / 300 x 100
        "cpa": "8.0000",  # 80 / 10
        "attributed_roas": "0.9375",  # 75 / 80
    }
    # Zero impressions, clicks, installs and spend: every ratio is "no value", never 0 or an error.
    assert set(c2["kpis"].values()) == {None}


def test_a_day_with_zero_installs_has_no_cpi_and_blended_roas_uses_the_advertisers_day(tmp_path: Path) -> None:
    section = advertiser_report(settings(tmp_path), ADVERTISER, ROWS, EVENTS, D1, D2, "day")
    day1, day2 = section["rows"]
    assert day2["kpis"]["cpi"] is None and day2["kpis"]["ipm"] == "0.0000"
    # Day 1 (Los Angeles): 40 USD + 10 EUR at the 1.10 rate in force on the 27th = 51; spend 50.
    assert (day1["forwarded_revenue"], day1["blended_roas"]) == ("51.00", "1.0200")
    # Day 2: nothing acknowledged converts (99 USD unacknowledged, 5 GBP without a rate): no blended ROAS.
    assert (day2["forwarded_revenue"], day2["blended_roas"], day2["unconverted"]) == ("0", None, {"GBP": "5"})
    assert section["warnings"] == [
        "2026-11-28: revenue of 5 GBP has no GBP->USD rate on or before that day; shown unconverted and left out of"
        " blended ROAS"
    ]
    totals = section["totals"]
    assert (totals["figures"]["spend"], totals["forwarded_revenue"], totals["blended_roas"]) == ("80", "51.00", None)
    assert totals["kpis"]["attributed_roas"] == "0.9375"


def test_the_audit_and_exports(tmp_path: Path) -> None:
    section = advertiser_report(settings(tmp_path), ADVERTISER, ROWS, EVENTS, D1, D2, "day")
    lines = [
        (a["day"], a["event_name"], a["sent"], a["acknowledged"], a["reported"], a["flags"]) for a in section["audit"]
    ]
    assert lines == [
        # TikTok reports 40 installs we never sent (another sender, e.g. the SDK, reports installs): flagged.
        ("2026-11-27", "InstallApp", 0, 0, "40", ["reported_never_sent"]),
        ("2026-11-27", "Purchase", 2, 2, "0", []),  # too few to flag (audit_min_acknowledged)
        ("2026-11-28", "Purchase", 2, 1, "0", []),
    ]
    document = {"since": "2026-11-27", "until": "2026-11-28", "level": "day", "advertisers": [section], "warnings": []}
    csv_lines = to_csv(document).splitlines()
    assert csv_lines[0].startswith("advertiser_id,currency,day,spend,") and len(csv_lines) == 3
    assert csv_lines[1].endswith(",51.00,1.0200")
    table = to_table(document).splitlines()
    assert table[0].split()[:3] == ["advertiser_id", "day", "spend"] and "warning: 2026-11-28" in table[-1]

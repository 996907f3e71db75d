"""The Marketing API emulator's reports: deterministic figures, TikTok's formats, pages, windows, restatement."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from forwarder.marketing_emulator import MarketingState, create_marketing_emulator

pytestmark = pytest.mark.anyio

ADVERTISER = "7002238017842757633"  # America/Los_Angeles, USD
REPORT = "/open_api/v1.3/report/integrated/get/"
NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC).timestamp()  # noon in Los Angeles
METRICS = ["campaign_name", "spend", "impressions", "clicks", "ctr", "cpc", "app_install", "total_purchase_value"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    state = MarketingState(clock=lambda: NOW)
    transport = httpx.ASGITransport(app=create_marketing_emulator(state))
    headers = {"Access-Token": "emulator-token"}
    async with httpx.AsyncClient(transport=transport, base_url="http://tiktok.test", headers=headers) as client:
        yield client


def query(**change: Any) -> dict[str, str]:
    params: dict[str, Any] = {
        "advertiser_id": ADVERTISER,
        "report_type": "BASIC",
        "data_level": "AUCTION_CAMPAIGN",
        "dimensions": ["campaign_id", "stat_time_day"],
        "metrics": METRICS,
        "start_date": "2026-11-02",
        "end_date": "2026-12-01",
        "page_size": 1000,
        **change,
    }
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}


async def report(client: httpx.AsyncClient, **change: Any) -> dict[str, Any]:
    return dict((await client.get(REPORT, params=query(**change))).json())


async def test_a_campaign_day_report_has_tiktoks_shape(client: httpx.AsyncClient) -> None:
    answer = await report(client)
    assert answer["code"] == 0
    rows = answer["data"]["list"]
    assert len(rows) == 3 * 30 and answer["data"]["page_info"]["total_number"] == 90  # the deleted one left out
    first = rows[0]
    assert set(first["dimensions"]) == {"campaign_id", "stat_time_day"}
    assert first["dimensions"]["stat_time_day"] == "2026-11-02 00:00:00"
    assert isinstance(first["metrics"]["spend"], str) and isinstance(first["metrics"]["impressions"], str)
    assert isinstance(first["metrics"]["app_install"], int)
    Decimal(first["metrics"]["spend"])


async def test_days_without_delivery_show_zero_and_dashes(client: httpx.AsyncClient) -> None:
    rows = (await report(client))["data"]["list"]
    weekend = [
        r
        for r in rows
        if r["metrics"]["campaign_name"] == "Weekday subscriptions" and "11-07" in r["dimensions"]["stat_time_day"]
    ]
    assert weekend[0]["metrics"]["impressions"] == "0" and weekend[0]["metrics"]["spend"] == "0.00"
    assert weekend[0]["metrics"]["ctr"] == "-" and weekend[0]["metrics"]["cpc"] == "-"


async def test_figures_are_deterministic_and_consistent(client: httpx.AsyncClient) -> None:
    once, again = await report(client), await report(client, start_date="2026-11-20")
    by_key = {(r["dimensions"]["campaign_id"], r["dimensions"]["stat_time_day"]): r for r in once["data"]["list"]}
    for row in again["data"]["list"]:
        assert by_key[(row["dimensions"]["campaign_id"], row["dimensions"]["stat_time_day"])] == row
    busy = next(r["metrics"] for r in once["data"]["list"] if r["metrics"]["clicks"] not in ("0",))
    ctr = Decimal(busy["clicks"]) * 100 / Decimal(busy["impressions"])
    assert abs(Decimal(busy["ctr"]) - ctr) <= Decimal("0.005")


async def test_pages_cover_every_row_once(client: httpx.AsyncClient) -> None:
    everything = (await report(client))["data"]["list"]
    pages = [await report(client, page=str(n), page_size="40") for n in (1, 2, 3)]
    assert pages[0]["data"]["page_info"] == {"page": 1, "page_size": 40, "total_number": 90, "total_page": 3}
    assert [row for p in pages for row in p["data"]["list"]] == everything
    assert len(pages[2]["data"]["list"]) == 10


async def test_the_default_page_size_is_ten(client: httpx.AsyncClient) -> None:
    params = query()
    del params["page_size"]
    answer = (await client.get(REPORT, params=params)).json()
    assert len(answer["data"]["list"]) == 10


async def test_advertiser_level_includes_the_deleted_campaign(client: httpx.AsyncClient) -> None:
    campaigns = (await report(client, start_date="2026-11-30", end_date="2026-11-30"))["data"]["list"]
    deleted = await report(
        client,
        start_date="2026-11-30",
        end_date="2026-11-30",
        filtering=[{"field_name": "campaign_status", "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}],
    )
    account = await report(
        client,
        data_level="AUCTION_ADVERTISER",
        dimensions=["advertiser_id", "stat_time_day"],
        metrics=["spend"],
        start_date="2026-11-30",
        end_date="2026-11-30",
    )
    every = deleted["data"]["list"]
    assert len(every) == len(campaigns) + 1
    total = sum(Decimal(r["metrics"]["spend"]) for r in every)
    assert account["data"]["list"][0]["metrics"]["spend"] == str(total)
    assert account["data"]["list"][0]["dimensions"] == {
        "advertiser_id": ADVERTISER,
        "stat_time_day": "2026-11-30 00:00:00",
    }


async def test_the_window_is_at_most_30_days_by_day(client: httpx.AsyncClient) -> None:
    answer = await report(client, start_date="2026-11-01")
    assert answer["code"] == 40002 and "30 days" in answer["message"]
    lifetime = await report(client, dimensions=["campaign_id"], start_date="2026-01-01")
    assert lifetime["code"] == 0 and len(lifetime["data"]["list"]) == 3


async def test_future_days_have_no_rows_and_today_is_partial(client: httpx.AsyncClient) -> None:
    answer = await report(client, start_date="2026-11-30", end_date="2026-12-05")
    days = {r["dimensions"]["stat_time_day"][:10] for r in answer["data"]["list"]}
    assert days == {"2026-11-30", "2026-12-01"}


async def test_a_restated_day_changes_and_others_do_not(client: httpx.AsyncClient) -> None:
    before = (await report(client, start_date="2026-11-27", end_date="2026-11-28"))["data"]["list"]
    restate = {"restate": [{"advertiser_id": ADVERTISER, "day": "2026-11-28", "factor": 1.5}]}
    assert (await client.post("/_control/script", json=restate)).status_code == 200
    after = (await report(client, start_date="2026-11-27", end_date="2026-11-28"))["data"]["list"]
    for old, new in zip(before, after, strict=True):
        assert old["metrics"]["spend"] == new["metrics"]["spend"]
        if "11-28" in old["dimensions"]["stat_time_day"] and old["metrics"]["app_install"] > 2:
            assert new["metrics"]["app_install"] > old["metrics"]["app_install"]
        if "11-27" in old["dimensions"]["stat_time_day"]:
            assert old == new


@pytest.mark.parametrize(
    "change",
    [
        {"report_type": "AUDIENCE"},
        {"data_level": "CAMPAIGN"},
        {"dimensions": "not json"},
        {"start_date": "2026/11/02"},
        {"end_date": "2026-10-01"},
        {"page_size": "1001"},
        {"page": "0"},
    ],
)
async def test_invalid_parameters_are_40002(client: httpx.AsyncClient, change: dict[str, str]) -> None:
    assert (await report(client, **change))["code"] == 40002


async def test_a_scripted_rate_limit_answers_40100_once(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"responses": [{"code": 40100, "message": "Too many", "path": REPORT}]})
    assert (await report(client))["code"] == 40100
    assert (await report(client))["code"] == 0


async def test_a_request_budget_is_shared_by_every_route(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"budgets": {"emulator-token": 2}})
    info = await client.get("/open_api/v1.3/advertiser/info/", params={"advertiser_ids": f'["{ADVERTISER}"]'})
    assert info.json()["code"] == 0
    assert (await report(client))["code"] == 0
    assert (await report(client))["code"] == 40100
    assert (await client.get("/_control/state")).json()["tokens"]["emulator-token"]["budget_left"] == 0


async def test_a_rate_limit_per_second_answers_40100(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"rate_limit_per_s": 1})
    assert [(await report(client))["code"] for _ in range(2)] == [0, 40100]


async def test_an_unknown_metric_is_a_dash_and_a_warning(client: httpx.AsyncClient) -> None:
    answer = await report(client, metrics=["spend", "video_play_actions"], start_date="2026-11-30")
    assert answer["data"]["list"][0]["metrics"]["video_play_actions"] == "-"
    warnings = (await client.get("/_control/state")).json()["warnings"]
    assert any("video_play_actions" in w["message"] for w in warnings)


async def test_reporting_needs_the_reporting_permission(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"drop_scopes": {"emulator-token": ["reporting"]}})
    assert (await report(client))["code"] == 40001

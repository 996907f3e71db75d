"""Reporting on a real `forwarder serve` with its embedded emulators: the status page's Performance section in
headless Chromium shows what GET /v1/report answers, and a kill -9 in the middle of a pull marks no day complete."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx

from tests.browser import browser_tab
from tests.conftest import event
from tests.processes import free_port, running
from tests.rigs import write_config

ADMIN_TOKEN = "report-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
US = "7002238017842757633"


def reporting_config(tmp_path: Path, port: int, **reporting: str) -> Path:
    base = f"http://127.0.0.1:{port}"
    replace = {
        'admin_token = "demo-admin-token"': f'admin_token = "{ADMIN_TOKEN}"',
        "http://127.0.0.1:8080/_emulator/marketing": f"{base}/_emulator/marketing",
        "advertiser_ids = []": f'advertiser_ids = ["{US}"]',
    }
    config = write_config(tmp_path, port, f"{base}/_emulator", emulator=True, replace=replace)
    text = config.read_text()
    for key, value in reporting.items():
        start = text.index("\n[reporting]")
        line_start = text.index(f"\n{key} = ", start) + 1
        text = text[:line_start] + f"{key} = {value}" + text[text.index("\n", line_start) :]
    config.write_text(text)
    return config


def report(base: str, **params: str) -> dict:  # type: ignore[type-arg]
    return httpx.get(f"{base}/v1/report", params=params, headers=ADMIN, timeout=10).json()


def test_the_performance_section_in_chromium_shows_the_report(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = reporting_config(tmp_path, port)
    key = {"Authorization": "Bearer demo-ingest-key"}
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path):
        purchases = [
            event(event_id=f"p-{n}", event="PURCHASE", properties={"value": 20, "currency": "USD"}) for n in range(2)
        ]
        httpx.post(f"{base}/v1/events", json={"events": purchases}, headers=key).raise_for_status()
        deadline = time.monotonic() + 20
        while (
            not (document := report(base, level="day"))["advertisers"]
            or document["advertisers"][0]["totals"]["forwarded_revenue"] != "40"
        ):
            assert time.monotonic() < deadline, document
            time.sleep(0.2)
        campaigns = report(base)["advertisers"][0]["rows"]
        with browser_tab(tmp_path / "profile") as tab:
            tab.open(f"http://admin:{ADMIN_TOKEN}@127.0.0.1:{port}/")
            tab.wait_for("document.getElementById('performance-status').dataset.loaded === 'true'")
            shown = tab.evaluate(
                """[...document.querySelectorAll('#performance-campaigns tbody tr')].map(row => [row.dataset.campaign,
                   ...[...row.querySelectorAll('td[data-kpi]')].map(td => [td.dataset.kpi, td.textContent])])"""
            )
            expected = [
                [line["campaign_id"], *([k, v if v is not None else "-"] for k, v in _cells(line))]
                for line in campaigns
            ]
            assert shown == expected
            bars = tab.evaluate(
                """[...document.querySelectorAll('#performance-spend rect')].map(r => [r.dataset.series.split(' ')[0],
                   r.dataset.day, r.dataset.value])"""
            )
            days = report(base, level="day")["advertisers"][0]["series"]
            assert ["forwarded", days[-1]["day"], "40"] in bars
            assert ["spend", days[-2]["day"], days[-2]["spend"]] in bars
            roas = tab.evaluate("document.querySelectorAll('#performance-roas circle').length")
            assert roas >= len([d for d in days if d["blended_roas"] is not None])
            coverage = tab.evaluate(
                'document.querySelector(\'#performance-coverage tr[data-event="Purchase"] td[data-key="email"]\')'
                ".textContent"
            )
            assert coverage == "100%"
            # A chosen range is asked for and drawn: a single past day.
            day = days[-3]["day"]
            tab.evaluate(
                f"document.getElementById('performance-since').value = '{day}';"
                f"document.getElementById('performance-until').value = '{day}';"
                "document.getElementById('performance-status').dataset.loaded = '';"
                "document.querySelector('#performance-range button').click()"
            )
            tab.wait_for("document.getElementById('performance-status').dataset.loaded === 'true'")
            one_day = report(base, since=day, until=day)["advertisers"][0]["rows"]
            cells = '#performance-campaigns td[data-kpi="spend"]'
            spends = tab.evaluate(f"[...document.querySelectorAll('{cells}')].map(td => td.textContent)")
            assert spends == [line["figures"]["spend"] for line in one_day]


def _cells(line: dict) -> list[tuple[str, str | None]]:  # type: ignore[type-arg]
    figures = ("spend", "impressions", "clicks", "app_install")
    kpis = ("cpi", "ipm", "cpm", "cpc", "ctr_pct", "click_to_install_pct", "conversion_rate_pct", "cpa")
    return [*((f, line["figures"][f]) for f in figures), *((k, line["kpis"][k]) for k in (*kpis, "attributed_roas"))]


def test_a_kill_during_a_pull_marks_no_day_complete(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # One row per page at 4 requests a second: the 8-day pull takes ~40 requests, long enough to kill it midway.
    # A short lease: the killed process's lease must run out before the restarted one may pull.
    config = reporting_config(tmp_path, port, page_size="1", lease_s="10.0")
    config.write_text(config.read_text().replace("requests_per_s = 50.0", "requests_per_s = 4.0"))
    log = tmp_path / "serve.log"
    with running(["serve", "--config", str(config)], f"{base}/healthz", log, cwd=tmp_path) as process:
        deadline = time.monotonic() + 20
        while True:
            state = httpx.get(f"{base}/_emulator/marketing/_control/state", headers=ADMIN, timeout=5).json()
            if sum(r["path"].endswith("/report/integrated/get/") for r in state["requests"]) >= 6:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    store = next(tmp_path.rglob("*.db"))
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT count(*) FROM report_days").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM report_rows").fetchone() == (0,)
    config.write_text(config.read_text().replace("requests_per_s = 4.0", "requests_per_s = 50.0"))
    with running(["serve", "--config", str(config)], f"{base}/healthz", log, cwd=tmp_path):
        deadline = time.monotonic() + 60
        while not (sections := report(base, level="day")["advertisers"]) or len(sections[0]["complete_days"]) < 6:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    with closing(sqlite3.connect(store)) as db:
        days = db.execute("SELECT count(*), sum(day_over) FROM report_days").fetchone()
        assert days == (8, 7)  # the trailing 7 days and today, which is not over

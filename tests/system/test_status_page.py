"""The status page in a real headless Chromium: it loads, its numbers match /v1/stats, its charts draw."""

from __future__ import annotations

import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from tests.browser import browser_tab, chromium
from tests.conftest import AUTH, event, make_settings, open_client
from tests.processes import free_port, running
from tests.rigs import wait_for_ids, write_config

ADMIN_TOKEN = "status-admin-token"
OWN_ADMIN_TOKEN = {'admin_token = "demo-admin-token"': f'admin_token = "{ADMIN_TOKEN}"'}  # not the example's


def browse(url: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Headless Chromium as the machine notes prescribe: no GPU, no background networking, a fresh profile."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1100",
        "--virtual-time-budget=3000",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


class Cells(HTMLParser):
    """Collects `data-destination`/`data-metric` cells and the chart bars the page's script drew."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.bars: dict[tuple[str, str], int] = {}
        self._cell: tuple[str, str] | None = None
        self._chart: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg":
            self._chart = a.get("id")
        if tag == "td" and a.get("data-metric"):
            self._cell = (a["data-destination"] or "", a["data-metric"] or "")
            self.cells[self._cell] = ""
        if tag == "rect" and self._chart:
            key = (self._chart, a["data-outcome"] or "")
            self.bars[key] = self.bars.get(key, 0) + int(a["data-value"] or 0)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self.cells[self._cell] += data


def test_status_page_in_chromium_matches_stats(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port, f"{base}/_emulator", emulator=True, replace=OWN_ADMIN_TOKEN)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    key = {"Authorization": "Bearer demo-ingest-key"}
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path):
        httpx.post(f"{base}/v1/events", json={"events": [event(event_id=f"ok-{i}") for i in range(7)]}, headers=key)
        wait_for_ids(f"{base}/_emulator", {f"ok-{i}" for i in range(7)}, timeout_s=10, headers=admin)
        httpx.post(
            f"{base}/_emulator/_control/script",
            json={"responses": [{"code": 40002, "message": "Invalid value for event_id: not a valid string."}]},
            headers=admin,
        ).raise_for_status()
        httpx.post(f"{base}/v1/events", json=event(event_id="bad-1"), headers=key)
        httpx.post(f"{base}/v1/events", json=event(event_id="ok-0"), headers=key)  # a duplicate
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/v1/stats", headers=admin).json()["destinations"]["demo_app_events"]["failed"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stats = httpx.get(f"{base}/v1/stats", headers=admin).json()["destinations"]["demo_app_events"]
        url = f"http://admin:{ADMIN_TOKEN}@127.0.0.1:{port}/"
        dom = browse(url, "--dump-dom", profile=tmp_path / "profile-dom").stdout
        screenshot = tmp_path / "status.png"
        browse(url, f"--screenshot={screenshot}", profile=tmp_path / "profile-shot")
    page = Cells()
    page.feed(dom)
    for metric in ("received", "accepted", "duplicates", "pending", "delivered", "failed"):
        assert page.cells["demo_app_events", metric] == str(stats[metric]), metric
    assert (stats["delivered"], stats["failed"], stats["duplicates"]) == (7, 1, 1)
    assert page.cells["demo_app_events", "state"] == "active"
    assert page.bars["chart-hour", "accepted"] == stats["accepted"]  # drawn by the page's script
    assert page.bars["chart-day", "delivered"] == stats["delivered"]
    assert "Invalid value for event_id: not a valid string." in dom
    assert re.search(r"default@[0-9a-f]{12}", dom)
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_status_page_needs_the_admin_token(tmp_path: Path) -> None:
    import respx

    settings = make_settings(tmp_path, admin_token=ADMIN_TOKEN)
    with open_client(settings, respx.Router()) as client:
        assert isinstance(client, TestClient)
        assert client.get("/").status_code == 401
        assert client.get("/").headers["WWW-Authenticate"].startswith("Basic")
        page = client.get("/", auth=("anyone", ADMIN_TOKEN))
        assert page.status_code == 200 and '<svg id="chart-hour"' in page.text
        assert "cdn" not in page.text.lower() and 'src="http' not in page.text
        client.post("/v1/events", json=event(), headers=AUTH)


def test_status_page_shows_axes_errors_per_event_a_refused_reload_and_replays(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port, f"{base}/_emulator", emulator=True, replace=OWN_ADMIN_TOKEN)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    key = {"Authorization": "Bearer demo-ingest-key"}
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path):
        refusal = {"responses": [{"code": 40002, "message": "Invalid value for event_id: not a valid string."}]}
        httpx.post(f"{base}/_emulator/_control/script", json=refusal, headers=admin).raise_for_status()
        httpx.post(f"{base}/v1/events", json=event(event_id="bad/1"), headers=key)
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/v1/stats", headers=admin).json()["destinations"]["demo_app_events"]["dead"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        httpx.post(f"{base}/v1/events", json={"events": [event(event_id=f"ok-{i}") for i in range(3)]}, headers=key)
        wait_for_ids(f"{base}/_emulator", {f"ok-{i}" for i in range(3)}, timeout_s=10, headers=admin)
        (tmp_path / "mappings" / "default.toml").write_text("[events]\nSTART_TRIAL = 5\n")
        assert httpx.post(f"{base}/v1/admin/reload", json={}, headers=admin).status_code == 422
        with browser_tab(tmp_path / "profile-cdp") as tab:
            tab.open(f"http://admin:{ADMIN_TOKEN}@127.0.0.1:{port}/")
            refused = tab.evaluate("document.getElementById('reload-refused').textContent")
            assert "Reload refused" in refused and "default.toml: events.START_TRIAL" in refused
            row = "document.querySelector('#errors tr[data-event-id=\"bad/1\"]')"
            assert tab.evaluate(f"{row}.querySelector('td[data-state]').dataset.state") == "failed"
            ledger = tab.evaluate(f"{row}.querySelector('a').getAttribute('href')")
            assert ledger == "/v1/events/bad%2F1"
            assert httpx.get(base + ledger, headers=admin).json()["deliveries"][0]["state"] == "failed"
            for chart, labels in (("chart-hour", 4), ("chart-day", 6)):
                y = tab.evaluate(f"[...document.querySelectorAll('#{chart} .y-tick')].map(t => +t.textContent)")
                bars = tab.evaluate(f"[...document.querySelectorAll('#{chart} rect')].map(r => +r.dataset.value)")
                assert y[0] == 0 and y[-1] >= max(bars) >= 3 and y == sorted(y)  # the axis spans every bar
                x = tab.evaluate(f"[...document.querySelectorAll('#{chart} .x-tick')].map(t => t.textContent)")
                assert len(x) == labels and all(re.fullmatch(r"\d\d:\d\d", label) for label in x)
            tab.evaluate(f"{row}.querySelector('button[data-replay]').click()")
            assert tab.wait_for(f"{row}.querySelector('.replay-result').textContent") == "replayed 1"
            wait_for_ids(f"{base}/_emulator", {"bad/1"}, timeout_s=10, headers=admin)
        stats = httpx.get(f"{base}/v1/stats", headers=admin).json()["destinations"]["demo_app_events"]
        assert (stats["dead"], stats["replayed"]) == (0, 1)


class NotForwardedRows(HTMLParser):
    """The rows of the page's `not-forwarded` table, cell texts in order."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._inside = self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._inside = dict(attrs).get("id") == "not-forwarded"
        if self._inside and tag == "tr":
            self.rows.append([])
        if self._inside and tag == "td":
            self.rows[-1].append("")
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        self._inside = self._inside and tag != "table"
        self._in_cell = self._in_cell and tag != "td"

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.rows[-1][-1] += data


def test_status_page_in_chromium_shows_events_sent_nowhere(tmp_path: Path) -> None:
    """Unmapped names, most frequent first, with the last event's id; the service logs each name once a minute."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port, f"{base}/_emulator", emulator=True, replace=OWN_ADMIN_TOKEN)
    key = {"Authorization": "Bearer demo-ingest-key"}
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path):
        for i in range(3):
            answer = httpx.post(f"{base}/v1/events", json=event(event_id=f"lvl-{i}", event="LEVEL_UP"), headers=key)
            assert answer.json()["not_forwarded"][0]["reason"] == "unmapped"
        httpx.post(f"{base}/v1/events", json=event(event_id="tut-0", event="<b>Tutorial</b>"), headers=key)
        dom = browse(f"http://admin:{ADMIN_TOKEN}@127.0.0.1:{port}/", "--dump-dom", profile=tmp_path / "p").stdout
    page = NotForwardedRows()
    page.feed(dom)
    [header, level_up, tutorial] = page.rows
    assert header == []  # th cells only
    assert level_up[:4] == ["LEVEL_UP", "demo_app", "unmapped", "3"] and level_up[5] == "lvl-2"
    assert tutorial[0] == "<b>Tutorial</b>" and tutorial[5] == "tut-0"  # escaped, shown as text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", level_up[4])
    lines = [line for line in (tmp_path / "serve.log").read_text().splitlines() if "ingest.not_forwarded" in line]
    assert len([line for line in lines if '"LEVEL_UP"' in line]) == 1  # 3 events within a minute: one line

"""Connect TikTok in a real headless Chromium, against a real `forwarder serve` and its embedded emulator: the
operator clicks Connect TikTok, then Authorize on the emulated consent page, and lands back on the status page
connected to both emulated advertisers; the token shows nowhere on the page or in the service log. Then the
emulator expires and revokes it, and the page says so with what to do."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.browser import browser_tab
from tests.processes import free_port, running
from tests.rigs import write_config

ADMIN_TOKEN = "connect-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ADVERTISERS = ["7002238017842757633", "7002238017842757634"]
SECTION = "document.getElementById('tiktok-connection')"


def test_connect_tiktok_in_chromium_then_expired_and_revoked(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    replace = {
        'admin_token = "demo-admin-token"': f'admin_token = "{ADMIN_TOKEN}"',
        'access_token = "emulator-token"': "",  # start without the example's token: unconnected
        "127.0.0.1:8080": f"127.0.0.1:{port}",  # marketing.base_url, public_url
    }
    config = write_config(tmp_path, port, f"{base}/_emulator", emulator=True, replace=replace)
    control = f"{base}/_emulator/marketing/_control"
    log = tmp_path / "serve.log"
    with running(["serve", "--config", str(config)], f"{base}/healthz", log, cwd=tmp_path):
        with browser_tab(tmp_path / "profile") as tab:
            tab.open(f"http://admin:{ADMIN_TOKEN}@127.0.0.1:{port}/", ready=f"{SECTION} !== null")
            assert tab.evaluate(f"{SECTION}.dataset.state") == "not_connected"
            tab.evaluate("document.getElementById('connect-tiktok').click()")
            tab.wait_for("document.getElementById('authorize') !== null")  # the emulator's consent page
            assert "/_emulator/marketing/portal/auth" in tab.evaluate("location.pathname")
            tab.evaluate("document.getElementById('authorize').click()")
            tab.wait_for(f"{SECTION} !== null && {SECTION}.dataset.state === 'connected'")
            assert tab.evaluate("location.pathname + location.search") == "/?tiktok=connected"
            assert tab.evaluate("document.getElementById('tiktok-notice').textContent") == "TikTok connected."
            reached = tab.evaluate(
                "[...document.querySelectorAll('#tiktok-advertisers li')].map(l => l.dataset.advertiser)"
            )
            assert reached == ADVERTISERS
            assert "Emulated Apps US" in tab.evaluate(f"{SECTION}.textContent")
            connected_page = tab.evaluate("document.documentElement.outerHTML")

            tokens = httpx.get(f"{control}/state", headers=ADMIN).json()["tokens"]
            [token] = [t for t, grant in tokens.items() if grant["app_id"]]  # the one the flow granted
            assert token not in connected_page

            httpx.post(f"{control}/script", json={"expire_tokens": [token]}, headers=ADMIN).raise_for_status()
            tab.open(f"{base}/?check=tiktok", ready=f"{SECTION} !== null")
            assert tab.evaluate(f"{SECTION}.dataset.state") == "expired"
            problem = tab.evaluate("document.getElementById('tiktok-connection-problem').textContent")
            assert "40102" in problem and "connect TikTok again" in problem
            assert tab.evaluate("document.getElementById('connect-tiktok') !== null")

            httpx.post(f"{control}/script", json={"revoke_tokens": [token]}, headers=ADMIN).raise_for_status()
            tab.open(f"{base}/?check=tiktok", ready=f"{SECTION} !== null")
            assert tab.evaluate(f"{SECTION}.dataset.state") == "revoked"
            assert "40105" in tab.evaluate("document.getElementById('tiktok-connection-problem').textContent")
            pages = connected_page + tab.evaluate("document.documentElement.outerHTML")
        api = httpx.get(f"{base}/v1/marketing/connection", headers=ADMIN)
        assert api.json()["state"] == "revoked" and api.json()["fix"]
        metrics = httpx.get(f"{base}/metrics", headers=ADMIN).text
        assert 'forwarder_marketing_connection_state{state="revoked"} 1.0' in metrics
    service_log = log.read_text()
    assert "marketing.connected" in service_log and '"state": "revoked"' in service_log
    assert token not in pages + api.text + metrics + service_log

"""The service and the Events API emulator as real processes on loopback, as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import event
from tests.processes import free_port, running
from tests.rigs import wait_for_ids, write_config

pytestmark = pytest.mark.slow

DEMO_ADMIN = {"Authorization": "Bearer demo-admin-token"}  # the example config's; the embedded emulator asks for it


def test_quick_start_with_the_embedded_emulator(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port, f"{base}/_emulator", emulator=True)
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path):
        answer = httpx.post(f"{base}/v1/events", json=event(), headers={"Authorization": "Bearer demo-ingest-key"})
        assert answer.status_code == 202, answer.text
        wait_for_ids(f"{base}/_emulator", {"evt-1"}, timeout_s=10, headers=DEMO_ADMIN)
        [delivered] = httpx.get(f"{base}/_emulator/_control/events", headers=DEMO_ADMIN).json()["events"]
        assert delivered["event"] == "StartTrial"
        assert delivered["event_source_id"] == "7301234567890123456"
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    stats = subprocess.run(
        [sys.executable, "-m", "forwarder", "stats", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    destination = json.loads(stats.stdout)["destinations"]["demo_app_events"]
    assert (destination["delivered"], destination["pending"]) == (1, 0)
    log = (tmp_path / "serve.log").read_text()
    assert '"event": "delivery.delivered"' in log
    assert "demo-access-token" not in log and "demo-ingest-key" not in log


def test_sigterm_during_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    emulator_port, port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port, emulator, emulator=False)
    acked: set[str] = set()

    def post_batch(n: int) -> set[str]:
        ids = [f"b{n}-{i}" for i in range(20)]
        try:
            answer = httpx.post(
                f"{base}/v1/events",
                headers={"Authorization": "Bearer demo-ingest-key"},
                json={"events": [event(event_id=i) for i in ids]},
                timeout=10,
            )
        except httpx.TransportError:
            return set()
        return set(ids) if answer.status_code == 202 else set()

    with running(["emulate", "--port", str(emulator_port)], f"{emulator}/_control/events", tmp_path / "emu.log"):
        httpx.post(f"{emulator}/_control/script", json={"latency_ms": 150})
        with running(
            ["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path
        ) as server:
            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(post_batch, n) for n in range(150)]
                time.sleep(0.5)
                server.send_signal(signal.SIGTERM)
                for future in futures:
                    acked |= future.result()
            # uvicorn re-raises SIGTERM after its graceful shutdown, so supervisors see the signal.
            assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        assert acked, "no request was acknowledged before SIGTERM"
        httpx.post(f"{emulator}/_control/script", json={"latency_ms": 0})
        with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve2.log", cwd=tmp_path):
            ids = wait_for_ids(emulator, acked, timeout_s=60)
    assert acked <= set(ids)
    log = (tmp_path / "serve.log").read_text()
    assert '"event": "delivery.stopped"' in log and '"event": "service.stopped"' in log


def test_sighup_reloads_the_mapping_without_a_restart(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp_path, port, f"{base}/_emulator", emulator=True, replace={"watch_config = true": "watch_config = false"}
    )
    key = {"Authorization": "Bearer demo-ingest-key"}
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path) as server:
        (tmp_path / "mappings" / "default.toml").write_text('[events]\nSTART_TRIAL = "Subscribe"\n')
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while '"trigger": "sighup"' not in (tmp_path / "serve.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.post(f"{base}/v1/events", json=event(event_id="after-hup"), headers=key).status_code == 202
        wait_for_ids(f"{base}/_emulator", {"after-hup"}, timeout_s=10, headers=DEMO_ADMIN)
        [delivered] = httpx.get(f"{base}/_emulator/_control/events", headers=DEMO_ADMIN).json()["events"]
        assert delivered["event"] == "Subscribe"
        assert server.poll() is None  # the same process, not a restart
    assert '"event": "config.reloaded"' in (tmp_path / "serve.log").read_text()

"""Reloads against a real `forwarder serve` and the emulator: half-saved files, names in use, several workers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.configs import service_config
from tests.conftest import REPO, event, wait_for
from tests.processes import emulator_state, free_port, running, wait_for_delivery

pytestmark = pytest.mark.slow
KEY = {"Authorization": "Bearer reload-key"}
ADMIN = {"Authorization": "Bearer reload-admin-token"}


@dataclass
class Service:
    tmp: Path
    config: Path
    url: str
    emulator: str
    process: subprocess.Popen[bytes]

    @property
    def table(self) -> Path:
        return self.tmp / "mappings" / "default.toml"

    def post(self, events: list[dict[str, Any]]) -> set[str]:
        """The ids of a batch the service acknowledged (202), or none."""
        try:
            answer = httpx.post(f"{self.url}/v1/events", json={"events": events}, headers=KEY, timeout=10)
        except httpx.TransportError:
            return set()
        return {e["event_id"] for e in events} if answer.status_code == 202 else set()

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/v1/stats", headers=ADMIN, timeout=10).json()
        return body

    def reload_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "forwarder", "reload", "--config", str(self.config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)


@contextmanager
def serving(tmp: Path, *, watch: bool, workers: int = 1, settle_s: float = 0.5) -> Iterator[Service]:
    shutil.copytree(REPO / "mappings", tmp / "mappings")
    emulator_port, port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    config = service_config(
        tmp / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        tiktok_url=emulator,
        mappings_dir=tmp / "mappings",
        watch_config=watch,
        top_level={"reload_settle_s": settle_s, "admin_token": "reload-admin-token"},
        server={"workers": workers},
        delivery={"poll_interval_s": 0.1, "timeout_s": 2.0, "lease_s": 6.0},
        sources={"app": {"keys": ["reload-key"]}},
        destinations={
            "app": {
                "event_source": "app",
                "event_source_id": "111",
                "access_token": "reload-token",
                "rate_limit_per_s": 1000,
            }
        },
    )
    url = f"http://127.0.0.1:{port}"
    with (
        running(["emulate", "--port", str(emulator_port)], f"{emulator}/_control/events", tmp / "emulator.log"),
        running(["serve", "--config", str(config)], f"{url}/healthz", tmp / "serve.log") as process,
    ):
        yield Service(tmp, config, url, emulator, process)


def label(content: bytes) -> str:
    return f"default@{hashlib.sha256(content).hexdigest()[:12]}"


def post_continuously(service: Service, stop: threading.Event, acked: set[str]) -> threading.Thread:
    """Batches of START_TRIAL and PURCHASE events until `stop`; the acknowledged ids go into `acked`."""

    def run() -> None:
        n = 0
        while not stop.is_set():
            names = ("START_TRIAL", "PURCHASE")
            acked.update(service.post([event(event_id=f"c{n}-{i}", event=names[i % 2]) for i in range(10)]))
            n += 1

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_table_saved_in_place_in_two_halves_drops_no_acknowledged_event(tmp_path: Path) -> None:
    """The first half is valid TOML without the rules for PURCHASE and START_TRIAL, and stays on disk for longer
    than the settle interval: the reload it triggers is refused, and the whole file applies once written."""
    with serving(tmp_path, watch=True) as service:
        original = service.table.read_bytes()
        final = original + b"# saved in place, in two halves\n"
        cut = original.index(b"\nPURCHASE = ") + 1
        acked: set[str] = set()
        stop = threading.Event()
        poster = post_continuously(service, stop, acked)
        try:
            wait_for(lambda: len(acked) >= 100, timeout_s=30)
            time.sleep(0.5)  # let the watcher settle after start
            with service.table.open("r+b") as editor:  # an editor that saves in place: truncate, write, write
                editor.truncate(0)
                editor.write(final[:cut])
                editor.flush()
                os.fsync(editor.fileno())
                time.sleep(2.0)  # several settle intervals: stable, so only the names-in-use check refuses it
                editor.write(final[cut:])
            wait_for(lambda: service.stats()["config"]["mappings"]["default"] == label(final), timeout_s=30)
            time.sleep(0.5)
        finally:
            stop.set()
            poster.join()
        wait_for_delivery(service.emulator, acked, timeout_s=60)
        destination = service.stats()["destinations"]["app"]
    log = (tmp_path / "serve.log").read_text()
    refusals = [json.loads(line) for line in log.splitlines() if '"would_stop_mapping"' in line]
    print(
        f"\nhalf-saved table: {len(acked)} acknowledged, {destination['unmapped']} unmapped, {len(refusals)} refusals"
    )
    assert destination["unmapped"] == 0
    assert {"destination": "app", "table": label(final[:cut]), "names": ["PURCHASE", "START_TRIAL"]} in refusals[0][
        "dropped"
    ]


def test_a_table_rewritten_faster_than_the_settle_interval_never_goes_live(tmp_path: Path) -> None:
    """A first half that still maps every name in use (to other events) is caught by the settle interval alone."""
    with serving(tmp_path, watch=True, settle_s=2.0) as service:
        original = service.table.read_bytes()
        half = b'[events]\nSTART_TRIAL = "Subscribe"\nPURCHASE = "Subscribe"\n'
        final = original + b"# saved in place\n"
        acked: set[str] = set()
        stop = threading.Event()
        poster = post_continuously(service, stop, acked)
        try:
            wait_for(lambda: len(acked) >= 100, timeout_s=30)
            time.sleep(0.5)
            with service.table.open("r+b") as editor:
                editor.truncate(0)
                editor.write(half)
                editor.flush()
                os.fsync(editor.fileno())
                time.sleep(0.3)  # longer than the watcher's quiet time, shorter than the settle interval
                editor.truncate(0)
                editor.seek(0)
                editor.write(final)
            wait_for(lambda: service.stats()["config"]["mappings"]["default"] == label(final), timeout_s=30)
        finally:
            stop.set()
            poster.join()
        delivered = wait_for_delivery(service.emulator, acked, timeout_s=60)["events"]
    assert {e["event"] for e in delivered} == {"StartTrial", "Purchase"}


def test_a_reload_that_stops_mapping_a_used_name_is_refused_until_forced(tmp_path: Path) -> None:
    with serving(tmp_path, watch=False) as service:
        assert service.post([event(event_id="before", event="PURCHASE")]) == {"before"}
        service.table.write_text(service.table.read_text().replace('PURCHASE = "Purchase"\n', ""))
        without_purchase = label(service.table.read_bytes())
        refused = httpx.post(f"{service.url}/v1/admin/reload", headers=ADMIN, json={}, timeout=30)
        assert refused.status_code == 409
        assert refused.json()["dropped"] == [{"destination": "app", "table": without_purchase, "names": ["PURCHASE"]}]
        service.process.send_signal(signal.SIGHUP)
        wait_for(lambda: service.stats()["config"]["last_reload"]["trigger"] == "sighup")
        assert service.stats()["config"]["last_reload"]["refused"] == "would_stop_mapping"
        cli = service.reload_cli()
        assert cli.returncode == 1 and "PURCHASE" in cli.stdout
        assert service.post([event(event_id="still-mapped", event="PURCHASE")]) == {"still-mapped"}
        wait_for_delivery(service.emulator, {"before", "still-mapped"}, timeout_s=30)

        forced = service.reload_cli("--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert json.loads(forced.stdout)["mappings"]["default"] == without_purchase
        assert service.post([event(event_id="after", event="PURCHASE")]) == {"after"}
        wait_for(lambda: service.stats()["destinations"]["app"]["unmapped"] == 1)
        assert {e["event_id"] for e in emulator_state(service.emulator)["events"]} == {"before", "still-mapped"}
    log = (tmp_path / "serve.log").read_text()
    assert log.count('"event": "config.reload_refused"') == 3
    assert '"forced_drops": [{"destination": "app"' in log


def test_an_admin_reload_reaches_every_worker(tmp_path: Path) -> None:
    with serving(tmp_path, watch=False, workers=2) as service:
        service.table.write_text(
            service.table.read_text().replace('START_TRIAL = "StartTrial"', 'START_TRIAL = "Subscribe"')
        )
        new = label(service.table.read_bytes())
        answer = httpx.post(f"{service.url}/v1/admin/reload", headers=ADMIN, json={"force": False}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert [w["mappings"]["default"] for w in answer.json()["workers"]] == [new, new]
        # Whichever worker answers, it maps with the new table.
        seen: dict[int, str] = {}
        for _ in range(200):
            config = service.stats()["config"]
            seen[config["pid"]] = config["mappings"]["default"]
            if len(seen) == 2:
                break
        assert len(seen) == 2, "every stats request reached the same worker"
        assert set(seen.values()) == {new}
        ids = {f"after-{n}" for n in range(60)}
        for event_id in sorted(ids):
            assert service.post([event(event_id=event_id)]) == {event_id}
        delivered = wait_for_delivery(service.emulator, ids, timeout_s=60)["events"]
    assert {e["event"] for e in delivered} == {"Subscribe"}

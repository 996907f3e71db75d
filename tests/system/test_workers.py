"""`server.workers = 2` on SQLite: two real worker processes sharing one writer process, against the emulator."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import event
from tests.rigs import Rig, rig

pytestmark = pytest.mark.slow
TWO_WORKERS = "workers = 2"


def children(pid: int) -> dict[int, str]:
    """Direct children of `pid` and their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found[int(entry.name)] = command
    return found


def supervisor_pid(r: Rig) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"forwarder serve --config {r.config}" in command:
                return int(entry.name)
    raise AssertionError("no forwarder serve process")


def writers(pid: int) -> list[int]:
    return [child for child, command in children(pid).items() if "writer_process.py" in command]


def workers(pid: int) -> list[int]:
    return [child for child, command in children(pid).items() if "multiprocessing.spawn" in command]


def accepted_metric(exposition: str) -> int:
    match = re.search(r'^forwarder_events_accepted_total\{destination="app"\} ([0-9.e+]+)$', exposition, re.M)
    assert match, "no forwarder_events_accepted_total for destination app"
    return int(float(match.group(1)))


def load(r: Rig, prefix: str, stop: threading.Event, acked: set[str], threads: int = 4) -> list[threading.Thread]:
    def post(worker: int) -> None:
        n = 0
        while not stop.is_set():
            acked.update(r.post([event(event_id=f"{prefix}{worker}-{n}-{i}") for i in range(20)], timeout=10))
            n += 1

    started = [threading.Thread(target=post, args=(w,)) for w in range(threads)]
    for thread in started:
        thread.start()
    return started


def test_two_workers_share_one_writer_and_deliver_each_event_once(tmp_path: Path) -> None:
    with rig(tmp_path, server=TWO_WORKERS) as r:
        supervisor = supervisor_pid(r)
        processes = writers(supervisor) + workers(supervisor)
        assert len(writers(supervisor)) == 1 and len(workers(supervisor)) == 2
        # The same 300 events from three clients at once, plus 2,000 more from four.
        batches = [[event(event_id=f"same-{k}-{i}") for i in range(20)] for k in range(15)]
        acked: set[str] = set()
        threads = [threading.Thread(target=lambda: [acked.update(r.post(b)) for b in batches]) for _ in range(3)]
        stop = threading.Event()
        threads += load(r, "w", stop, acked)
        for thread in threads[:3]:
            thread.start()
        time.sleep(2.0)
        stop.set()
        for thread in threads:
            thread.join()
        seen = r.wait_for_all(acked, timeout_s=60)
        stats = r.wait_settled(timeout_s=30)
        # The answers written to a worker's socket and the rows the writer stored are the same events.
        assert stats["accepted"] == len(acked)
        # Whichever worker answers the scrape, Prometheus sees the sum over both workers.
        scraped = {accepted_metric(httpx.get(f"{r.service}/metrics", timeout=10).text) for _ in range(6)}
        assert scraped == {len(acked)}
    print(f"\ntwo workers: {len(acked)} acknowledged, all delivered, {seen['duplicates']} duplicates")
    assert seen["duplicates"] == 0
    assert len({e["event_id"] for e in seen["events"]}) == len(seen["events"]) == len(acked)
    left = [pid for pid in processes if Path(f"/proc/{pid}").exists()]
    assert not left, f"SIGTERM left the writer or a worker running: {left}"


def test_sigkill_of_the_shared_writer_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with rig(tmp_path, server=TWO_WORKERS) as r:
        supervisor = supervisor_pid(r)
        (first,) = writers(supervisor)
        acked: set[str] = set()
        stop = threading.Event()
        threads = load(r, "k", stop, acked)
        time.sleep(1.0)
        os.kill(first, signal.SIGKILL)
        time.sleep(2.0)  # the supervisor starts a new writer; workers reconnect on their next write
        stop.set()
        for thread in threads:
            thread.join()
        seen = r.wait_for_all(acked, timeout_s=60)
        (second,) = writers(supervisor)
    print(f"\nshared writer SIGKILLed under load: {len(acked)} acknowledged, all delivered")
    assert second != first
    log = (r.tmp / "serve.log").read_text()
    assert '"event": "store.writer_restarted"' in log
    assert acked <= {e["event_id"] for e in seen["events"]}

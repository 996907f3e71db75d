"""`server.workers = 2` behaves like one service (issue 12, item 10): a key's rate limit, backpressure and the
in-process emulator are each one for both worker processes, not one per worker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.configs import service_config
from tests.conftest import event, wait_for
from tests.processes import free_port, running

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer workers-admin-token"}
KEY = {"Authorization": "Bearer workers-key"}


@contextmanager
def two_workers(tmp: Path, *, source: str = "", store: str = "", delivery: str = "") -> Iterator[str]:
    port = free_port()
    config = service_config(
        tmp / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        embedded_emulator=True,
        top_level={"admin_token": "workers-admin-token"},
        server={"workers": 2},
        store=store,
        delivery=[{"poll_interval_s": 0.1}, delivery],
        sources={"app": [{"keys": ["workers-key"]}, source]},
        destinations={
            "app": {
                "event_source": "app",
                "event_source_id": "111",
                "access_token": "workers-token",
                "rate_limit_per_s": 1000,
            }
        },
    )
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp / "serve.log"):
        yield base


def at_once(requests: int, send: Callable[[int], int], threads: int = 8) -> list[int]:
    """Status codes of `requests` calls of `send(i)` from `threads` threads, each call on a new connection."""
    codes: list[int] = []
    lock = threading.Lock()

    def run(offset: int) -> None:
        for i in range(offset, requests, threads):
            code = send(i)
            with lock:
                codes.append(code)

    started = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return codes


def pids_that_logged(log: Path, event_name: str) -> set[int]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {line["pid"] for line in lines if line["event"] == event_name}


def post(base: str, i: int, prefix: str) -> int:
    return httpx.post(f"{base}/v1/events", json=event(event_id=f"{prefix}-{i}"), headers=KEY, timeout=30).status_code


def test_a_key_rate_limit_holds_across_both_workers(tmp_path: Path) -> None:
    rate, burst = 0.5, 10
    source = f"rate_limit_per_s = {rate}\nrate_limit_burst = {burst}"
    with two_workers(tmp_path, source=source, delivery="enabled = false") as base:
        started = time.monotonic()
        codes = at_once(120, lambda i: post(base, i, "rl"))
        elapsed = time.monotonic() - started
    accepted = codes.count(202)
    print(f"\nrate limit {rate}/s, burst {burst}, two workers: {accepted} of 120 accepted in {elapsed:.1f} s")
    assert set(codes) == {202, 429}
    # One bucket for the key: its burst and its rate over the run, not a burst per worker.
    assert burst <= accepted <= burst + rate * elapsed + 1
    # Both workers answered 429s, so both took from that one bucket.
    assert len(pids_that_logged(tmp_path / "serve.log", "ingest.rate_limited")) == 2


def test_backpressure_refuses_in_both_workers(tmp_path: Path) -> None:
    with two_workers(tmp_path, store="max_pending_events = 5", delivery="enabled = false") as base:
        batch = {"events": [event(event_id=f"bp-{i}") for i in range(5)]}
        assert httpx.post(f"{base}/v1/events", json=batch, headers=KEY).status_code == 202
        # Each worker checks the shared backlog once a second: wait until a run of answers is all refusals.
        wait_for(lambda: set(at_once(16, lambda i: post(base, i, "wait"))) == {503}, timeout_s=20)
        codes = at_once(60, lambda i: post(base, i, "bp-late"))
        ready = at_once(20, lambda i: httpx.get(f"{base}/readyz").status_code)
    assert set(codes) == {503} and set(ready) == {503}
    assert len(pids_that_logged(tmp_path / "serve.log", "ingest.refused_overloaded")) == 2


def test_every_event_lands_in_the_one_emulator(tmp_path: Path) -> None:
    with two_workers(tmp_path) as base:

        def count(i: int) -> int:
            answer = httpx.get(f"{base}/_emulator/_control/events", headers=ADMIN, timeout=10)
            assert answer.status_code == 200
            return int(answer.json()["count"])

        assert set(at_once(100, lambda i: post(base, i, "em"))) == {202}
        wait_for(lambda: set(at_once(12, count)) == {100}, timeout_s=30)
        # Whichever worker a control request reaches, it answers for the same emulator.
        seen = at_once(24, count)
        # The shared emulator has no guard of its own: each worker's proxy asks for the admin credential.
        unguarded = at_once(8, lambda i: httpx.get(f"{base}/_emulator/_control/events", timeout=10).status_code)
    assert set(seen) == {100}
    assert set(unguarded) == {401}

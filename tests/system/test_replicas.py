"""Several `forwarder serve` replicas on one PostgreSQL database, with the emulator as TikTok."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.configs import service_config
from tests.conftest import event
from tests.postgres import postgres_database
from tests.processes import emulator_state, free_port, running, wait_for_delivery

pytestmark = pytest.mark.slow
KEY = {"Authorization": "Bearer replica-key"}


@dataclass
class Cluster:
    replicas: list[str]
    configs: list[Path]
    emulator: str
    processes: list[subprocess.Popen[bytes]]

    def post(self, replica: int, events: list[dict[str, Any]]) -> set[str]:
        try:
            answer = httpx.post(f"{self.replicas[replica]}/v1/events", json={"events": events}, headers=KEY, timeout=15)
        except httpx.TransportError:
            return set()
        return {e["event_id"] for e in events} if answer.status_code == 202 else set()

    def received(self) -> dict[str, Any]:
        return emulator_state(self.emulator)

    def wait_for(self, ids: set[str], timeout_s: float) -> dict[str, Any]:
        return wait_for_delivery(self.emulator, ids, timeout_s)


@contextmanager
def cluster(
    tmp: Path, replicas: int = 3, latency_ms: int = 0, batch_size: int = 1000, rate_limit_per_s: float = 1000
) -> Iterator[Cluster]:
    with postgres_database() as database, ExitStack() as stack:
        emulator_port = free_port()
        emulator = f"http://127.0.0.1:{emulator_port}"
        stack.enter_context(
            running(
                ["emulate", "--port", str(emulator_port), "--latency-ms", str(latency_ms)],
                f"{emulator}/_control/events",
                tmp / "emulator.log",
            )
        )
        urls, configs, processes = [], [], []
        for index in range(replicas):
            port = free_port()
            config = service_config(
                tmp / f"replica-{index}.toml",
                port=port,
                tiktok_url=emulator,
                store_url=database,
                key="replica-key",
                token="replica-token",
                delivery="poll_interval_s = 0.2\nretry_base_s = 0.2\nretry_cap_s = 1.0\n"
                f"timeout_s = 2.0\nlease_s = 6.0\nbatch_size = {batch_size}",
                destination=f"rate_limit_per_s = {rate_limit_per_s}",
            )
            url = f"http://127.0.0.1:{port}"
            processes.append(
                stack.enter_context(
                    running(["serve", "--config", str(config)], f"{url}/healthz", tmp / f"replica-{index}.log")
                )
            )
            urls.append(url)
            configs.append(config)
        yield Cluster(urls, configs, emulator, processes)


def test_an_event_posted_to_every_replica_at_once_is_delivered_once(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        events = [event(event_id=f"same-{i}") for i in range(100)]
        results: list[set[str]] = []
        threads = [threading.Thread(target=lambda r=r: results.append(c.post(r, events))) for r in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(len(acked) == 100 for acked in results)  # every replica answered 202
        seen = c.wait_for({e["event_id"] for e in events}, timeout_s=30)
        time.sleep(1)
        seen = c.received()
    assert len(seen["events"]) == 100 and seen["duplicates"] == 0


def test_sigkill_of_one_replica_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    with cluster(tmp_path, latency_ms=200, batch_size=100) as c:
        acked: set[str] = set()
        for chunk in range(20):
            acked |= c.post(chunk % 3, [event(event_id=f"k-{chunk}-{i}") for i in range(100)])
        assert len(acked) == 2000
        time.sleep(0.5)
        c.processes[0].kill()  # its leased batches must be taken over by the others after the lease
        seen = c.wait_for(acked, timeout_s=60)
    print(f"\nreplica SIGKILL: 2000 acknowledged, all delivered, {seen['duplicates']} duplicate sends")
    assert seen["duplicates"] <= 4 * 100  # at most the killed replica's in-flight batches (concurrency x batch)


def test_a_postgresql_restart_under_load_is_survived(tmp_path: Path) -> None:
    cluster_version = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True).stdout.split()
    if not cluster_version:
        pytest.skip("no local PostgreSQL cluster to restart")
    with cluster(tmp_path) as c:
        acked: set[str] = set()
        stop = threading.Event()

        def load(replica: int) -> None:
            n = 0
            while not stop.is_set():
                acked.update(c.post(replica, [event(event_id=f"pg-{replica}-{n}-{i}") for i in range(10)]))
                n += 1
                time.sleep(0.02)

        threads = [threading.Thread(target=load, args=(r,)) for r in range(3)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", cluster_version[0], "main", "restart"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            time.sleep(2.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert all(process.poll() is None for process in c.processes)  # no replica died or was restarted
        after = c.post(0, [event(event_id="after-restart")])
        assert after == {"after-restart"}
        seen = c.wait_for(acked | after, timeout_s=60)
    print(f"\nPostgreSQL restart: {len(acked)} acknowledged under load, all delivered, replicas never restarted")
    assert len(seen["events"]) >= len(acked)


def test_a_destination_rate_limit_holds_for_the_whole_cluster(tmp_path: Path) -> None:
    rate = 4.0
    with cluster(tmp_path, batch_size=10, rate_limit_per_s=rate) as c:
        acked: set[str] = set()
        for replica in range(3):
            acked |= c.post(replica, [event(event_id=f"rl-{replica}-{i}") for i in range(40)])
        c.wait_for(acked, timeout_s=60)
        log = httpx.get(f"{c.emulator}/_control/events?log=1", timeout=10).json()["log"]
    times = sorted(entry["at"] for entry in log)
    requests = len(times)
    # One shared bucket: after the burst of `rate` tokens the cluster gets `rate` requests a second, however
    # many replicas ask (12 requests: 2 s); three private buckets of `rate` would send all 12 at once. Times are
    # when the emulator received each request, not when its token was taken: a first request that arrives late
    # (a new connection, a busy core) shortens the span, hence the 0.5 s allowed for arrival jitter.
    assert requests >= 12
    assert times[-1] - times[0] >= (requests - rate) / rate - 0.5
    print(f"\ncluster rate limit {rate:g}/s: {requests} requests over {times[-1] - times[0]:.1f} s")

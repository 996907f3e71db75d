"""Real-process rigs the system tests share: the fault rig (service + emulator on loopback) and a service on the
example config. Helpers, not fixtures: each test starts and stops its own processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .configs import example_config, service_config
from .processes import emulator_state, free_port, running, wait_for_delivery

KEY = {"Authorization": "Bearer fault-key"}


@dataclass
class Rig:
    tmp: Path
    config: Path
    service: str
    emulator: str

    def post(self, events: list[dict[str, Any]], timeout: float = 30) -> set[str]:
        """Post a batch; the ids acknowledged (202), or none."""
        try:
            answer = httpx.post(f"{self.service}/v1/events", json={"events": events}, headers=KEY, timeout=timeout)
        except httpx.TransportError:
            return set()
        return {e["event_id"] for e in events} if answer.status_code == 202 else set()

    def script(self, **spec: Any) -> None:
        httpx.post(f"{self.emulator}/_control/script", json=spec, timeout=5).raise_for_status()

    def received(self) -> dict[str, Any]:
        return emulator_state(self.emulator)

    def wait_for_all(self, ids: set[str], timeout_s: float) -> dict[str, Any]:
        return wait_for_delivery(self.emulator, ids, timeout_s)

    def wait_settled(self, timeout_s: float) -> dict[str, Any]:
        """Stats once nothing is pending or in flight any more."""
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if stats["pending"] == 0 and stats["in_flight"] == 0:
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled: {stats['pending']} pending, {stats['in_flight']} in flight")
            time.sleep(0.2)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.service}/v1/stats", timeout=10).json()["destinations"]["app"]
        return result


def _config(tmp: Path, port: int, emulator: str, delivery: str, destination: str, server: str = "") -> Path:
    return service_config(
        tmp / "config.toml",
        port=port,
        tiktok_url=emulator,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        key="fault-key",
        token="fault-token",
        server=server,
        delivery=f"poll_interval_s = 0.1\nretry_base_s = 0.2\nretry_cap_s = 1.0\n{delivery}",
        destination=f"rate_limit_per_s = 1000\n{destination}",
    )


@contextmanager
def rig(
    tmp: Path,
    delivery: str = "timeout_s = 2.0\nlease_s = 6.0",
    emulator_args: tuple[str, ...] = (),
    destination: str = "",
    server: str = "",
) -> Iterator[Rig]:
    emulator_port, port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    config = _config(tmp, port, emulator, delivery, destination, server)
    service = f"http://127.0.0.1:{port}"
    with (
        running(
            ["emulate", "--port", str(emulator_port), *emulator_args],
            f"{emulator}/_control/events",
            tmp / "emulator.log",
        ),
        running(["serve", "--config", str(config)], f"{service}/healthz", tmp / "serve.log"),
    ):
        yield Rig(tmp, config, service, emulator)


def write_config(
    tmp_path: Path, port: int, tiktok_url: str, *, emulator: bool, replace: dict[str, str] | None = None
) -> Path:
    """config.example.toml as written (relative paths: run the service in `tmp_path`) on `port`, sending to
    `tiktok_url`, with its embedded emulator on or off; `replace` edits it further."""
    edits = {
        "port = 8080": f"port = {port}",
        'base_url = "http://127.0.0.1:8080/_emulator"': f'base_url = "{tiktok_url}"',
        "enabled = true                   # serve": f"enabled = {str(emulator).lower()}  # serve",
    }
    return example_config(tmp_path, replace={**edits, **(replace or {})}, as_written=True)


def wait_for_ids(
    emulator_url: str, expected: set[str], timeout_s: float, headers: dict[str, str] | None = None
) -> list[str]:
    return [e["event_id"] for e in wait_for_delivery(emulator_url, expected, timeout_s, headers)["events"]]

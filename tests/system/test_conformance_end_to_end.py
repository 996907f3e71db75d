"""The service against the Events API emulator, both real processes on loopback: the failures TikTok serves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.configs import service_config
from tests.conftest import event
from tests.processes import free_port, running

pytestmark = pytest.mark.slow
KEY = {"Authorization": "Bearer e2e-ingest-key"}


@dataclass
class Cluster:
    service: str
    emulator: str

    def post(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        answer = httpx.post(f"{self.service}/v1/events", json={"events": events}, headers=KEY, timeout=10)
        assert answer.status_code == 202, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def script(self, **spec: Any) -> None:
        httpx.post(f"{self.emulator}/_control/script", json=spec).raise_for_status()

    def received(self, event_source_id: str) -> list[str]:
        events = httpx.get(f"{self.emulator}/_control/events", timeout=5).json()["events"]
        return [e["event_id"] for e in events if e["event_source_id"] == event_source_id]

    def stats(self, destination: str) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.service}/v1/stats").json()["destinations"][destination]
        return result

    def wait(self, predicate: Any, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError("condition not reached in time")


@contextmanager
def cluster(tmp_path: Path, batch_size: int = 100) -> Iterator[Cluster]:
    emulator_port, port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    config = service_config(
        tmp_path / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp_path / 'forwarder.db'}",
        tiktok_url=emulator,
        watch_config=None,
        delivery={
            "batch_size": batch_size,
            "poll_interval_s": 0.1,
            "retry_base_s": 0.2,
            "retry_cap_s": 1.0,
            "timeout_s": 2.0,
            "lease_s": 6.0,
            "pause_probe_base_s": 0.3,
            "pause_probe_cap_s": 1.0,
        },
        sources={"app": {"keys": ["e2e-ingest-key"]}},
        destinations={
            "alpha": {"event_source": "app", "event_source_id": "111", "access_token": "alpha-token"},
            "beta": {"event_source": "app", "event_source_id": "222", "access_token": "beta-token"},
        },
    )
    service = f"http://127.0.0.1:{port}"
    with (
        running(["emulate", "--port", str(emulator_port)], f"{emulator}/_control/events", tmp_path / "emu.log"),
        running(["serve", "--config", str(config)], f"{service}/healthz", tmp_path / "serve.log"),
    ):
        yield Cluster(service, emulator)


def test_a_poisoned_event_fails_alone_and_the_batch_is_delivered(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.script(reject_event_ids=["p-3"])
        c.post([event(event_id=f"p-{i}") for i in range(10)])
        good = {f"p-{i}" for i in range(10)} - {"p-3"}
        c.wait(lambda: set(c.received("111")) == good and set(c.received("222")) == good)
        c.wait(lambda: c.stats("alpha")["failed"] == 1)
        alpha = c.stats("alpha")
        assert (alpha["delivered"], alpha["failed"], alpha["pending"]) == (9, 1, 0)
        assert "reject_event_ids" in alpha["last_error"]["message"]
        assert alpha["last_error"]["tiktok_code"] == 40002
        assert alpha["last_error"]["request_id"]


def test_a_revoked_token_pauses_only_its_destination_until_fixed(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.script(revoked_tokens=["alpha-token"])
        ids = {f"r-{i}" for i in range(20)}
        c.post([event(event_id=i) for i in sorted(ids)])
        c.wait(lambda: set(c.received("222")) == ids)  # beta is not held back
        c.wait(lambda: c.stats("alpha")["state"] == "paused")
        alpha = c.stats("alpha")
        assert alpha["paused"]["tiktok_code"] == 40105
        assert alpha["pending"] == 20 and alpha["failed"] == 0
        assert c.received("111") == []
        c.script(revoked_tokens=[])  # the advertiser fixed the token on TikTok's side
        c.wait(lambda: set(c.received("111")) == ids)
        c.wait(lambda: c.stats("alpha")["state"] == "active")
        assert c.stats("alpha")["failed"] == 0


def test_rate_limiting_slows_delivery_without_losing_events(tmp_path: Path) -> None:
    with cluster(tmp_path, batch_size=5) as c:
        c.script(rate_limit_per_s=4)
        ids = {f"q-{i}" for i in range(60)}
        c.post([event(event_id=i) for i in sorted(ids)])
        c.wait(lambda: set(c.received("111")) == ids and set(c.received("222")) == ids, timeout_s=40)
        emulator = httpx.get(f"{c.emulator}/_control/events").json()
        assert emulator["answers"].get("40100", 0) > 0  # the limit was hit ...
        assert emulator["duplicates"] == 0  # ... and nothing was sent twice
        for name in ("alpha", "beta"):
            stats = c.stats(name)
            assert (stats["delivered"], stats["failed"], stats["pending"]) == (60, 0, 0)
            assert stats["retried"] > 0


def test_a_refused_partner_name_pauses_with_the_fix_and_loses_nothing(tmp_path: Path) -> None:
    """Issue 13 item 3: a request-wide setting refused (40063) pauses its destination, not every event."""
    with cluster(tmp_path) as c:
        c.script(token_answers={"alpha-token": {"code": 40063, "message": "Invalid value for partner_name."}})
        ids = {f"n-{i}" for i in range(5)}
        c.post([event(event_id=i) for i in sorted(ids)])
        c.wait(lambda: set(c.received("222")) == ids)
        c.wait(lambda: c.stats("alpha")["state"] == "paused")
        alpha = c.stats("alpha")
        assert alpha["paused"]["tiktok_code"] == 40063 and "partner_name" in alpha["paused"]["reason"]
        assert (alpha["pending"], alpha["failed"]) == (5, 0)
        c.script(token_answers={})  # the operator fixed partner_name
        c.wait(lambda: set(c.received("111")) == ids)
        c.wait(lambda: c.stats("alpha")["state"] == "active")
        assert c.stats("alpha")["failed"] == 0


def test_a_partial_answer_fails_only_the_refused_event(tmp_path: Path) -> None:
    """Issue 13 item 3: a 20001 naming one refused event fails that event and delivers the others."""
    with cluster(tmp_path) as c:
        c.script(partial_event_ids=["x-2"])
        c.post([event(event_id=f"x-{i}") for i in range(6)])
        good = {f"x-{i}" for i in range(6)} - {"x-2"}
        c.wait(lambda: c.stats("alpha")["failed"] == 1 and c.stats("beta")["failed"] == 1)
        for name, source_id in (("alpha", "111"), ("beta", "222")):
            stats = c.stats(name)
            assert (stats["delivered"], stats["failed"], stats["pending"]) == (5, 1, 0)
            assert "refused in a partial answer (20001)" in stats["last_error"]["message"]
            assert set(c.received(source_id)) == good

"""Real `forwarder` processes on loopback for end-to-end tests, and a headless Chromium to drive their pages; each is
stopped by the test that started it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


@contextmanager
def running(
    args: list[str], health_url: str, log_path: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `python -m forwarder ARGS`, wait for `health_url`, and always stop it (SIGTERM, then SIGKILL)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "forwarder", *args], stdout=log, stderr=log, cwd=cwd, env=env)
    try:
        wait_until_up(health_url, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def emulator_state(emulator_url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """What the Events API emulator has received: events, requests, duplicates, answers (and their log).

    `headers` carry the credential of an emulator that asks for one (the service's embedded one: the admin token).
    """
    answer = httpx.get(f"{emulator_url}/_control/events?log=1", headers=headers, timeout=10)
    answer.raise_for_status()
    state: dict[str, Any] = answer.json()
    return state


def wait_for_delivery(
    emulator_url: str, ids: set[str], timeout_s: float, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The emulator's state once every id in `ids` has reached it; fails naming how many never did."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = emulator_state(emulator_url, headers)
        missing = ids - {e["event_id"] for e in state["events"]}
        if not missing:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"lost: {len(missing)} acknowledged events never reached TikTok")
        time.sleep(0.1)

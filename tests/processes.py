"""Real `forwarder` processes on loopback for end-to-end tests, and a headless Chromium to drive their pages; each is
stopped by the test that started it."""

from __future__ import annotations

import json
import os
import shutil
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
import pytest
from websockets.sync.client import ClientConnection, connect


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


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    return found


class Tab:
    """One page of a headless Chromium driven over the DevTools protocol, so a test can click what a person clicks."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self._id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 15) -> Any:
        deadline = time.monotonic() + timeout_s
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"never true in the page: {expression}"
            time.sleep(0.1)
        return value

    def open(self, url: str, ready: str = "document.getElementById('errors') !== null") -> None:
        """Go to `url` and wait until it has loaded and `ready` (the status page's errors table by default)."""
        self.call("Page.navigate", url=url)
        self.wait_for(f"document.readyState === 'complete' && {ready}")


@contextmanager
def browser_tab(profile: Path) -> Iterator[Tab]:
    """Headless Chromium with its DevTools endpoint on a free loopback port; stopped when the test is done."""
    port = free_port()
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    command += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    command += [f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                page = next(target for target in targets if target["type"] == "page")
                break
            except (httpx.TransportError, StopIteration, ValueError):
                assert time.monotonic() < deadline, "chromium's DevTools endpoint never came up"
                time.sleep(0.1)
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            yield Tab(socket)
    finally:
        process.terminate()
        process.wait(timeout=10)

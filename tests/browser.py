"""Headless Chromium for system tests: the binary (skipped outside CI when missing) and a tab driven over the
DevTools protocol, so a test can click what a person clicks and read what the page's scripts drew."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.processes import free_port


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

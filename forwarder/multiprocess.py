"""`forwarder serve` with `server.workers` > 1: uvicorn worker processes, and with SQLite one writer they share.

Each worker is a whole service (ingest, delivery, status) built from the same config; uvicorn's supervisor binds
the port, restarts a worker that dies and restarts all of them on SIGHUP (which reloads the config); an admin API
reload reaches every worker through a private directory (reload/peers.py). With SQLite, this process first
upgrades the schema, then starts the writer (store/sqlite/writer_process.py) on a Unix socket in a private
directory and restarts it if it ever exits; workers find it through $FORWARDER_SQLITE_WRITER_SOCKET. With
PostgreSQL, workers are replicas of one another, as separate machines would be. With `emulator.enabled`, this
process also runs the one emulator every worker proxies to (tiktok/shared_emulator.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from .emulators import create_emulators
from .settings import Settings
from .store.sqlite.migrations import migrate
from .store.sqlite.writer_client import writer_command
from .tiktok.shared_emulator import shared_emulator
from .worker_env import EMULATOR_SOCKET, METRICS_DIR, RELOAD_DIR, WRITER_SOCKET

log = structlog.get_logger(__name__)


class SharedWriter:
    """The SQLite writer process every worker connects to; kept running until `stop()`."""

    def __init__(self, command: list[str], socket_path: Path) -> None:
        self._command, self.socket_path = command, socket_path
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(target=self._keep_running, name="sqlite-writer-watchdog", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._watchdog.start()

    def _spawn(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        self._process = subprocess.Popen(self._command, stdin=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not self._accepts():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the SQLite writer did not start (exit code {self._process.poll()})")
            time.sleep(0.01)

    def _accepts(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
            return True

    def _keep_running(self) -> None:
        while not self._stopping.is_set():
            assert self._process is not None
            code = self._process.wait()
            if self._stopping.is_set():
                return
            log.error("store.writer_stopped", exit_code=code, shared=True)
            with contextlib.suppress(RuntimeError):
                self._spawn()
                log.warning("store.writer_restarted", shared=True)
            time.sleep(0.5)  # if it keeps dying, do not spin

    def stop(self) -> None:
        """EOF on its stdin: the writer answers what it has read, then exits."""
        self._stopping.set()
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            self._process.wait()


@contextlib.contextmanager
def shared_sqlite_writer(settings: Settings) -> Iterator[None]:
    store = settings.store
    migrate(store.sqlite_path, store.sqlite_synchronous)
    with tempfile.TemporaryDirectory(prefix="forwarder-") as directory:
        socket_path = Path(directory) / "writer.sock"
        command = writer_command(store.sqlite_path, store.sqlite_synchronous, store.group_commit_max, socket_path)
        writer = SharedWriter(command, socket_path)
        writer.start()
        os.environ[WRITER_SOCKET] = str(socket_path)
        try:
            yield
        finally:
            os.environ.pop(WRITER_SOCKET, None)
            writer.stop()


def run_workers(settings: Settings, config_file: Path | None, **uvicorn_options: Any) -> None:
    """Serve with `settings.server.workers` processes; each builds its app from the same config file and env."""
    if config_file is not None:
        os.environ["FORWARDER_CONFIG"] = str(config_file.resolve())
    # Command-line host and port overrides reach the workers' settings too.
    os.environ["FORWARDER_SERVER__HOST"] = settings.server.host
    os.environ["FORWARDER_SERVER__PORT"] = str(settings.server.port)
    writer = shared_sqlite_writer(settings) if settings.store.is_sqlite else contextlib.nullcontext()
    emulator = shared_emulator(create_emulators()) if settings.emulator.enabled else contextlib.nullcontext()
    with (
        writer,
        emulator as emulator_socket,
        tempfile.TemporaryDirectory(prefix="forwarder-metrics-") as metrics_directory,
        tempfile.TemporaryDirectory(prefix="forwarder-reload-") as reload_directory,
    ):
        os.environ[METRICS_DIR] = metrics_directory  # read by prometheus_client as each worker starts
        os.environ[RELOAD_DIR] = reload_directory  # an admin reload reaches every worker (reload/peers.py)
        if emulator_socket is not None:
            os.environ[EMULATOR_SOCKET] = str(emulator_socket)  # every worker proxies to this one emulator
        log.info(
            "service.workers",
            workers=settings.server.workers,
            shared_sqlite_writer=settings.store.is_sqlite,
            shared_emulator=emulator_socket is not None,
        )
        uvicorn.run(
            "forwarder.app:create_app",
            factory=True,
            workers=settings.server.workers,
            host=settings.server.host,
            port=settings.server.port,
            **uvicorn_options,
        )

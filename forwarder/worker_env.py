"""The only state a process gets outside `Settings`: what `forwarder serve` hands its worker processes.

uvicorn starts each worker from `create_app()` with no arguments, so what the supervisor (`multiprocess.py`) set
up for them reaches them through these environment variables. They are read here, once, by the composition root
(`app.py`), and passed on as arguments: no store, endpoint or loop reads the environment itself.

The one other process-wide state is logging: structlog's configuration and the secret scrubber it runs
(`logs.py`), global because every logger of the process must scrub the same secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

WRITER_SOCKET = "FORWARDER_SQLITE_WRITER_SOCKET"  # the SQLite writer every worker shares
RELOAD_DIR = "FORWARDER_RELOAD_DIR"  # where a reload asked of one worker reaches the others
EMULATOR_SOCKET = "FORWARDER_EMULATOR_SOCKET"  # the one emulator every worker proxies to
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own: it reads this variable itself


@dataclass(frozen=True)
class WorkerEnvironment:
    """What the supervisor shares with this worker; every field None in a process of its own."""

    writer_socket: Path | None = None
    reload_dir: Path | None = None
    emulator_socket: Path | None = None

    @classmethod
    def read(cls, environ: Mapping[str, str] = os.environ) -> WorkerEnvironment:
        def path(name: str) -> Path | None:
            value = environ.get(name)
            return Path(value) if value else None

        return cls(path(WRITER_SOCKET), path(RELOAD_DIR), path(EMULATOR_SOCKET))

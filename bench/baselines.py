"""The two ingest baselines, each under the same wrk load as the service (threads, connections, seconds, events
per request) and with the same number of uvicorn worker processes:

- bare Starlette (`bench/baseline_app.py`): parses the JSON and answers 202, storing nothing (the HTTP ceiling);
- the shared durable outbox (`raw_durable.py` in `../shared/bench-baselines/`): raw ASGI, orjson, one SQLite
  writer thread per process with group commit, `synchronous=FULL`, no validation. It is run from its own
  directory with its own `post.lua` (its request format: `X-Ingest-Key`, always an `events` array), never copied.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from common import BENCH, REPO, WrkResult, free_port, rss_mb, server, tree_cpu_s, wrk

SHARED_BASELINES = Path("shared") / "bench-baselines"


@dataclass
class Measured:
    """One server under one wrk run: the load's figures, the server's RSS at the end, the events it stored."""

    result: WrkResult
    rss_mb: float
    stored: int | None = None  # None: the server stores nothing
    delivered: int | None = None  # None: the server delivers nothing
    cpu_us: float | None = None  # the server's CPU per event posted during the load (all its processes)
    emulator_cpu_us: float | None = None  # the TikTok stand-in's, when the server delivered to one


def cpu_us_per_event(cpu_s: float, result: WrkResult, events: int) -> float:
    return cpu_s / max(result.requests * events, 1) * 1e6


def find_shared_baselines() -> Path | None:
    """`../shared/bench-baselines` beside the repository, or beside a checkout above it (a git worktree)."""
    for parent in REPO.parents:
        if (parent / SHARED_BASELINES / "raw_durable.py").is_file():
            return parent / SHARED_BASELINES
    return None


def _uvicorn(app: str, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--workers", str(workers)]


def run_bare(tmp: Path, workers: int, events: int, seconds: int, connections: int) -> Measured:
    port = free_port()
    command = _uvicorn("baseline_app:app", port, workers)
    command += ["--no-access-log", "--log-level", "warning", "--app-dir", str(BENCH)]
    with server(command, f"http://127.0.0.1:{port}/", tmp / "bare.log") as process:
        url = f"http://127.0.0.1:{port}/v1/events"
        cpu = tree_cpu_s(process.pid)
        result = wrk(url, seconds=seconds, connections=connections, events=events)
        cpu = tree_cpu_s(process.pid) - cpu
        return Measured(result, rss_mb(process.pid), cpu_us=cpu_us_per_event(cpu, result, events))


def run_durable(baselines: Path, run_dir: Path, workers: int, events: int, seconds: int, connections: int) -> Measured:
    """The durable outbox as its README runs it (uvloop, httptools), with a fresh database in `run_dir`."""
    port = free_port()
    run_dir.mkdir(parents=True, exist_ok=True)
    database = run_dir / "raw.db"
    command = _uvicorn("raw_durable:app", port, workers)
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    env = {"DB": str(database), "SYNC": "FULL", "BENCH": "1"}
    # Its health answer is a 401 (no ingest key): any answer means it is up.
    with server(command, f"http://127.0.0.1:{port}/", run_dir / "durable.log", env=env, cwd=baselines) as process:
        url = f"http://127.0.0.1:{port}/v1/events"
        script = str(baselines / "post.lua")
        cpu = tree_cpu_s(process.pid)
        result = wrk(url, seconds=seconds, connections=connections, script=script, env={"NEV": str(events)})
        cpu = tree_cpu_s(process.pid) - cpu
        rss = rss_mb(process.pid)
    with closing(sqlite3.connect(database)) as connection:
        stored: int = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    return Measured(result, rss, stored, cpu_us=cpu_us_per_event(cpu, result, events))

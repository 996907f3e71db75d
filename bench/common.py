"""Shared by the benchmarks: free ports, starting and stopping servers, RSS, wrk runs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:  # run as `python bench/<name>.py`: the repository root holds `tests.configs`
    sys.path.append(str(REPO))

from tests.configs import service_config  # noqa: E402  (after the path above)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (workers, the SQLite writer)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def cpu_s(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid` alone, in seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU time used so far by `pid` and its descendants (workers, the SQLite writer), in seconds."""
    return sum(cpu_s(member) for member in process_tree(pid))


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, in MB."""
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


@contextmanager
def server(
    args: list[str], url: str, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `args`, wait until `url` answers (any status), yield the process, then stop it with SIGTERM."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=out, env={**os.environ, **(env or {})}, cwd=cwd)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{args[:4]} exited; see {log}")
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not come up; see {log}") from None
                time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is needed as the load generator: apt-get install wrk (Debian's package)")
    return found


@dataclass
class WrkResult:
    requests_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}[unit]


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    events: int = 1,
    script: str = "post_events.lua",
    env: dict[str, str] | None = None,
) -> WrkResult:
    """One wrk run with a Lua script from bench/ or an absolute path (default: post `events` events per request)."""
    output = subprocess.run(
        [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(BENCH / script), url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "EVENTS": str(events), **(env or {})},
    ).stdout
    requests_s = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return WrkResult(requests_s, p50, p99, errors, total)


def write_config(
    path: Path,
    *,
    port: int,
    store_url: str,
    tiktok_url: str = "http://127.0.0.1:9",
    delivery: bool = True,
    rate_limit_per_s: float = 20.0,
    workers: int = 1,
    keep_inbound_h: float | None = None,
    extra: str = "",
) -> Path:
    """A benchmark's service config: the default settings but for these, and `extra` TOML tables."""
    return service_config(
        path,
        port=port,
        store_url=store_url,
        tiktok_url=tiktok_url,
        top_level={"log_level": "warning"},
        server={"workers": workers, "max_body_bytes": 4194304},
        store={} if keep_inbound_h is None else {"keep_inbound_h": keep_inbound_h},
        delivery={"enabled": delivery},
        sources={"bench": {"keys": ["bench-key"]}},
        destinations={
            "app": {
                "event_source": "app",
                "event_source_id": "7301234567890123456",
                "access_token": "bench-token",
                "rate_limit_per_s": rate_limit_per_s,
            }
        },
        extra=extra,
    )

"""Ingest benchmark: `forwarder serve` (SQLite, default durability FULL, group commit) against a bare
Starlette baseline that only parses the JSON, both under the same wrk load on loopback, each with the same
number of worker processes (1, then 2: one per core on a 2-core box).

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 64] [--workers 1,2]

Delivery is switched off in the service so the figure is ingest alone; `bench/delivery.py` measures delivery.
RSS is the sum over the service's processes (workers and the SQLite writer).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

from common import free_port, rss_mb, server, write_config, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for workers in (int(n) for n in args.workers.split(",")):
            for events in (1, 20):
                port = free_port()
                baseline_cmd = [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "baseline_app:app",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--app-dir",
                    str(Path(__file__).parent),
                ]
                with server(baseline_cmd, f"http://127.0.0.1:{port}/", tmp / "baseline.log") as process:
                    base = wrk(
                        f"http://127.0.0.1:{port}/v1/events",
                        seconds=args.seconds,
                        connections=args.connections,
                        events=events,
                    )
                    base_rss = rss_mb(process.pid)
                port = free_port()
                run_dir = tmp / f"run-{workers}-{events}"
                run_dir.mkdir()
                config = write_config(
                    run_dir / "bench.toml",
                    port=port,
                    store_url=f"sqlite:///{run_dir / 'bench.db'}",
                    delivery=False,
                    workers=workers,
                )
                command = [sys.executable, "-m", "forwarder", "serve", "--config", str(config)]
                with server(command, f"http://127.0.0.1:{port}/healthz", tmp / "forwarder.log") as process:
                    ours = wrk(
                        f"http://127.0.0.1:{port}/v1/events",
                        seconds=args.seconds,
                        connections=args.connections,
                        events=events,
                    )
                    our_rss = rss_mb(process.pid)
                stored = sqlite3.connect(run_dir / "bench.db").execute("SELECT count(*) FROM outbox").fetchone()[0]
                rows.append((workers, events, ours, base, our_rss, base_rss, stored))
    print(f"ingest, {args.connections} connections, {args.seconds} s per run, wrk on the same machine")
    print(
        f"{'workers':>7} {'events/req':>10} {'ours req/s':>11} {'ours ev/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'RSS MB':>7} | {'base req/s':>10} {'p99 ms':>7} | {'ratio':>5} | {'base RSS':>8} | stored"
    )
    for workers, events, ours, base, our_rss, base_rss, stored in rows:
        print(
            f"{workers:>7} {events:>10} {ours.requests_s:>11.0f} {ours.requests_s * events:>10.0f} "
            f"{ours.p50_ms:>7.1f} {ours.p99_ms:>7.1f} {ours.errors:>6} {our_rss:>7.0f} | {base.requests_s:>10.0f} "
            f"{base.p99_ms:>7.1f} | {ours.requests_s / base.requests_s:>5.2f} | {base_rss:>8.0f} | "
            f"{stored} events (>= {ours.requests * events} acked)"
        )


if __name__ == "__main__":
    main()

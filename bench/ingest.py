"""Ingest benchmark: `forwarder serve` (SQLite, default durability FULL, group commit) against a bare
Starlette baseline that only parses the JSON, both under the same wrk load on loopback, each with the same
number of worker processes (1, then 2: one per core on a 2-core box).

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 64] [--workers 1,2] [--repeat 1]

Delivery is switched off in the service so the figure is ingest alone; `bench/delivery.py` measures delivery.
RSS is the sum over the service's processes (workers and the SQLite writer). With --repeat N, each pair of
runs (baseline, then ours) is repeated N times and the pair with the median ratio is shown: on a shared VM,
absolute figures drift more than the ratio measured back to back.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import WrkResult, free_port, rss_mb, server, write_config, wrk

BENCH = Path(__file__).resolve().parent


@dataclass
class Pair:
    workers: int
    events: int
    ours: WrkResult
    base: WrkResult
    our_rss: float
    base_rss: float
    stored: int

    @property
    def ratio(self) -> float:
        return self.ours.requests_s / self.base.requests_s


def run_baseline(tmp: Path, workers: int, events: int, args: argparse.Namespace) -> tuple[WrkResult, float]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port", str(port), "--workers", str(workers)]
    command += ["--no-access-log", "--log-level", "warning", "--app-dir", str(BENCH)]
    with server(command, f"http://127.0.0.1:{port}/", tmp / "baseline.log") as process:
        result = wrk(
            f"http://127.0.0.1:{port}/v1/events", seconds=args.seconds, connections=args.connections, events=events
        )
        return result, rss_mb(process.pid)


def run_ours(run_dir: Path, workers: int, events: int, args: argparse.Namespace) -> tuple[WrkResult, float, int]:
    port = free_port()
    run_dir.mkdir()
    database = run_dir / "bench.db"
    config = write_config(
        run_dir / "bench.toml",
        port=port,
        store_url=f"sqlite:///{database}",
        delivery=False,
        workers=workers,
        keep_inbound_h=args.keep_inbound_h,
    )
    command = [sys.executable, "-m", "forwarder", "serve", "--config", str(config)]
    with server(command, f"http://127.0.0.1:{port}/healthz", run_dir / "forwarder.log") as process:
        result = wrk(
            f"http://127.0.0.1:{port}/v1/events", seconds=args.seconds, connections=args.connections, events=events
        )
        rss = rss_mb(process.pid)
    stored: int = sqlite3.connect(database).execute("SELECT count(*) FROM outbox").fetchone()[0]
    return result, rss, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs per row; the median ratio is shown")
    parser.add_argument(
        "--keep-inbound-h", type=float, default=None, help="store.keep_inbound_h for the service (default: 24)"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for workers in (int(n) for n in args.workers.split(",")):
            for events in (1, 20):
                pairs = []
                for attempt in range(args.repeat):
                    base, base_rss = run_baseline(tmp, workers, events, args)
                    ours, our_rss, stored = run_ours(tmp / f"run-{workers}-{events}-{attempt}", workers, events, args)
                    pairs.append(Pair(workers, events, ours, base, our_rss, base_rss, stored))
                rows.append(sorted(pairs, key=lambda pair: pair.ratio)[len(pairs) // 2])
    print(
        f"ingest, {args.connections} connections, {args.seconds} s per run, wrk on the same machine"
        + (f", median of {args.repeat} pairs" if args.repeat > 1 else "")
    )
    print(
        f"{'workers':>7} {'events/req':>10} {'ours req/s':>11} {'ours ev/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'RSS MB':>7} | {'base req/s':>10} {'p99 ms':>7} | {'ratio':>5} | {'base RSS':>8} | stored"
    )
    for row in rows:
        ours, base = row.ours, row.base
        print(
            f"{row.workers:>7} {row.events:>10} {ours.requests_s:>11.0f} {ours.requests_s * row.events:>10.0f} "
            f"{ours.p50_ms:>7.1f} {ours.p99_ms:>7.1f} {ours.errors:>6} {row.our_rss:>7.0f} | "
            f"{base.requests_s:>10.0f} {base.p99_ms:>7.1f} | {row.ratio:>5.2f} | {row.base_rss:>8.0f} | "
            f"{row.stored} events (>= {ours.requests * row.events} acked)"
        )


if __name__ == "__main__":
    main()

"""Ingest benchmark: `forwarder serve` (SQLite, default settings: durability FULL, group commit) as users run it,
delivering while it ingests, against two baselines measured back to back under the same wrk load with the same
number of worker processes: the shared durable outbox (`../shared/bench-baselines/raw_durable.py`, run from there
with its `post.lua`) and bare Starlette parsing the JSON (`bench/baseline_app.py`).

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 64] [--workers 1,2] [--delivery on] [--repeat 1]

Delivery on (the default): the service delivers to a separate `forwarder emulate` process answering at 0 ms, with
the default delivery settings, so ingest shares the machine with delivery as in production. `--delivery off`
measures ingest alone (what this benchmark did before); `both` measures each. Workers 1 is the default config,
workers 2 the best on a 2-core box (one per core). RSS is the sum over a server's processes (the service's
workers and its SQLite writer; the emulator is not counted). With --repeat N every row is measured N times (ours,
durable, bare back to back); the trial with the median ratio to the durable outbox is shown, with the spread
below it: on a shared VM absolute figures drift more than ratios measured back to back.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import httpx
from baselines import Measured, cpu_us_per_event, find_shared_baselines, run_bare, run_durable
from common import free_port, rss_mb, server, tree_cpu_s, write_config, wrk
from ingest_report import Row, Trial, print_table


@contextmanager
def emulator(run_dir: Path) -> Iterator[tuple[str, int]]:
    """A separate `forwarder emulate` at 0 ms latency, fresh for each run (it keeps what it receives in memory):
    its URL and process id."""
    port = free_port()
    command = [sys.executable, "-m", "forwarder", "emulate", "--port", str(port), "--latency-ms", "0"]
    url = f"http://127.0.0.1:{port}"
    with server(command, f"{url}/_control/events", run_dir / "emulator.log") as process:
        yield url, process.pid


def run_ours(run_dir: Path, workers: int, events: int, delivery: bool, args: argparse.Namespace) -> Measured:
    port = free_port()
    run_dir.mkdir(parents=True)
    database = run_dir / "bench.db"
    with ExitStack() as stack:
        # Delivery off still names a TikTok URL (a closed port): nothing is sent to it.
        tiktok_url, emulator_pid = stack.enter_context(emulator(run_dir)) if delivery else ("http://127.0.0.1:9", None)
        config = write_config(
            run_dir / "bench.toml",
            port=port,
            store_url=f"sqlite:///{database}",
            tiktok_url=tiktok_url,
            delivery=delivery,
            workers=workers,
            keep_inbound_h=args.keep_inbound_h,
        )
        command = [sys.executable, "-m", "forwarder", "serve", "--config", str(config)]
        service = f"http://127.0.0.1:{port}"
        with server(command, f"{service}/healthz", run_dir / "forwarder.log") as process:
            url = f"{service}/v1/events"
            cpu = tree_cpu_s(process.pid)
            emulator_cpu = tree_cpu_s(emulator_pid) if emulator_pid else 0.0
            result = wrk(url, seconds=args.seconds, connections=args.connections, events=events)
            cpu = tree_cpu_s(process.pid) - cpu
            emulator_cpu = tree_cpu_s(emulator_pid) - emulator_cpu if emulator_pid else 0.0
            rss = rss_mb(process.pid)
            delivered = None
            if delivery:  # what was delivered during the load (and the instant after), not after a drain
                delivered = httpx.get(f"{service}/v1/stats", timeout=30).json()["destinations"]["app"]["delivered"]
    with closing(sqlite3.connect(database)) as connection:
        stored: int = connection.execute("SELECT count(*) FROM outbox").fetchone()[0]
    emulator_us = cpu_us_per_event(emulator_cpu, result, events) if delivery else None
    return Measured(result, rss, stored, delivered, cpu_us_per_event(cpu, result, events), emulator_us)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts, in order (default 1,2)")
    parser.add_argument("--delivery", choices=("on", "off", "both"), default="on", help="delivery in the service")
    parser.add_argument("--repeat", type=int, default=1, help="trials per row; the median is shown with the spread")
    parser.add_argument(
        "--keep-inbound-h", type=float, default=None, help="store.keep_inbound_h for the service (default: 24)"
    )
    parser.add_argument("--baselines", type=Path, default=None, help="default: ../shared/bench-baselines")
    args = parser.parse_args()
    baselines = args.baselines or find_shared_baselines()
    if baselines is None or not (baselines / "raw_durable.py").is_file():
        sys.exit("the shared durable-outbox baseline is missing: pass --baselines DIR (holding raw_durable.py)")
    deliveries = {"on": [True], "off": [False], "both": [True, False]}[args.delivery]
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for workers in (int(n) for n in args.workers.split(",")):
            for delivery in deliveries:
                for events in (1, 20):
                    row = Row(workers, events, delivery, [])
                    for attempt in range(args.repeat):
                        run_dir = tmp / f"{workers}-{events}-{'on' if delivery else 'off'}-{attempt}"
                        ours = run_ours(run_dir, workers, events, delivery, args)
                        durable = run_durable(baselines, run_dir, workers, events, args.seconds, args.connections)
                        bare = run_bare(run_dir, workers, events, args.seconds, args.connections)
                        row.trials.append(Trial(ours, durable, bare))
                    rows.append(row)
    print_table(rows, seconds=args.seconds, connections=args.connections, repeat=args.repeat)


if __name__ == "__main__":
    main()

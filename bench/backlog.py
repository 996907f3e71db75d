"""Backlog benchmark: with 1,000,000 events pending, the service's memory stays small and claiming a batch
costs what it costs with a small backlog.

    .venv/bin/python bench/backlog.py [--events 1000000]

Claim time is measured on the store (claim a batch of 1,000 and give it back, 20 times) with 10,000 and with
N pending events; RSS is that of a real `forwarder serve` delivering from the full backlog to the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import free_port, rss_mb, server
from delivery import config, payload

from forwarder.settings import load_settings
from forwarder.store import IngestWrite, OutboxItem, SQLiteStore, make_store


async def fill(store: SQLiteStore, start: int, stop: int) -> None:
    for first in range(start, stop, 1000):
        items = [
            OutboxItem("app", "Purchase", f"b-{i}", payload(f"b-{i}")) for i in range(first, min(stop, first + 1000))
        ]
        await store.enqueue(IngestWrite(items), time.time())


async def claim_ms(store: SQLiteStore, rounds: int = 20) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        claimed = await store.claim_due("bench", "app", 1000, time.time(), 60)
        timings.append((time.perf_counter() - started) * 1000)
        await store.release("bench", [c.id for c in claimed])
    return statistics.median(timings)


async def measure_claims(path: Path, events: int) -> tuple[float, float]:
    store = make_store(load_settings(path).store)
    assert isinstance(store, SQLiteStore)
    await store.open()
    try:
        await fill(store, 0, 10_000)
        small = await claim_ms(store)
        await fill(store, 10_000, events)
        large = await claim_ms(store)
    finally:
        await store.close()
    return small, large


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        emulator_port, port = free_port(), free_port()
        emulator = f"http://127.0.0.1:{emulator_port}"
        path = config(tmp, port, emulator)
        small, large = asyncio.run(measure_claims(path, args.events))
        size_mb = sum(p.stat().st_size for p in tmp.glob("bench.db*")) / 1e6
        peak = 0.0
        with (
            server(
                [sys.executable, "-m", "forwarder", "emulate", "--port", str(emulator_port), "--latency-ms", "50"],
                f"{emulator}/_control/events",
                tmp / "emulator.log",
            ),
            server(
                [sys.executable, "-m", "forwarder", "serve", "--config", str(path)],
                f"http://127.0.0.1:{port}/healthz",
                tmp / "serve.log",
            ) as process,
        ):
            for _ in range(40):  # 10 s of delivery from the full backlog
                peak = max(peak, rss_mb(process.pid))
                time.sleep(0.25)
    print(f"backlog of {args.events} pending events ({size_mb:.0f} MB on disk)")
    print(
        f"claim 1,000 events: {small:.1f} ms with 10,000 pending, {large:.1f} ms with {args.events} "
        f"(ratio {large / small:.2f})"
    )
    print(f"forwarder serve RSS while delivering from the full backlog: peak {peak:.0f} MB")


if __name__ == "__main__":
    main()

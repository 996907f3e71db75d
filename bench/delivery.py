"""Delivery benchmark: drain a backlog of pending events from `forwarder serve` to the local Events API
emulator at 0 ms and at 200 ms of simulated TikTok latency, with the default delivery settings.

    .venv/bin/python bench/delivery.py [--events 50000]

The baseline is the emulator's own capacity, measured with wrk posting full batches of the same size. Beside
each figure the bench prints the bounds the settings put on it: the rate limit (`rate_limit_per_s` requests of
`BATCH` events a second, after the bucket's burst of `rate_limit_per_s` requests) and, with latency, Little's
bound (`concurrency` requests in flight / latency x `BATCH`). Targets: at 0 ms, 0.3 of the emulator's capacity;
with latency, 0.8 of the lesser of Little's bound and the 0 ms rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import httpx
from common import free_port, server, write_config, wrk

from forwarder.settings import load_settings
from forwarder.store import IngestWrite, OutboxItem, make_store

_UNSETTLED = "SELECT EXISTS (SELECT 1 FROM outbox WHERE destination = 'app' AND state IN (0, 1))"
BATCH = 1000  # the default delivery.batch_size
CONCURRENCY = 4  # the default destination concurrency: requests in flight at once
RATE = 20.0  # the default (and bench's) rate_limit_per_s; the bucket holds max(1, rate) tokens
UNLIMITED = 10_000.0  # a rate limit no drain here comes near: what the delivery loop does without one
# Unlimited, 50,000 events drain in about a second, start-up included: this many times as many last longer.
UNLIMITED_EVENTS_FACTOR = 4


class Drain(NamedTuple):
    latency_ms: int
    rate: float
    elapsed: float
    requests: int
    delivered: int


def payload(event_id: str) -> bytes:
    return json.dumps(
        {
            "event": "Purchase",
            "event_time": int(time.time()),
            "event_id": event_id,
            "user": {
                "email": ["ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"],
                "ip": "203.0.113.7",
            },
            "properties": {"value": 9.99, "currency": "USD"},
            "app": {"app_id": "com.example.app"},
            "limited_data_use": False,
        },
        separators=(",", ":"),
    ).encode()


def config(tmp: Path, port: int, emulator: str, rate: float = RATE) -> Path:
    return write_config(
        tmp / "bench.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'bench.db'}",
        tiktok_url=emulator,
        rate_limit_per_s=rate,
    )


async def fill(config_path: Path, n: int) -> None:
    settings = load_settings(config_path)
    store = make_store(settings.store)
    await store.open()
    try:
        for start in range(0, n, 1000):
            items = [
                OutboxItem("app", "Purchase", f"b-{i}", payload(f"b-{i}")) for i in range(start, min(n, start + 1000))
            ]
            await store.enqueue(IngestWrite(items), time.time())
    finally:
        await store.close()


def drain(tmp: Path, events: int, latency_ms: int, rate: float) -> tuple[float, int, int]:
    emulator_port, port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    path = config(tmp, port, emulator, rate)
    asyncio.run(fill(path, events))
    emulator_cmd = [
        sys.executable,
        "-m",
        "forwarder",
        "emulate",
        "--port",
        str(emulator_port),
        "--latency-ms",
        str(latency_ms),
    ]
    with (
        server(emulator_cmd, f"{emulator}/_control/events", tmp / "emulator.log"),
        server(
            [sys.executable, "-m", "forwarder", "serve", "--config", str(path)],
            f"http://127.0.0.1:{port}/healthz",
            tmp / "serve.log",
        ),
    ):
        # The clock starts once the service answers: its start-up is not delivery. What it delivered while
        # starting is not counted either.
        # Requests and events are both read from the emulator, in one answer, so that they count the same window.
        started = time.monotonic()
        before = httpx.get(f"{emulator}/_control/events?event_id=none", timeout=30).json()
        # While it drains, the outbox is asked directly (a read-only connection; an index seek) whether a row is
        # still pending or in flight: the service's /v1/stats counts the whole outbox under its store's read lock,
        # and polling it took CPU and that lock from the delivery being measured. It is asked once at the end.
        outbox = sqlite3.connect(f"file:{tmp / 'bench.db'}?mode=ro", uri=True)
        while outbox.execute(_UNSETTLED).fetchone()[0]:
            time.sleep(0.02)
        outbox.close()
        elapsed = time.monotonic() - started
        stats = httpx.get(f"http://127.0.0.1:{port}/v1/stats", timeout=30).json()["destinations"]["app"]
        after = httpx.get(f"{emulator}/_control/events?event_id=none", timeout=30).json()
        requests, delivered = after["requests"] - before["requests"], after["total"] - before["total"]
        if stats["delivered"] != events:
            raise SystemExit(f"the service says it delivered {stats['delivered']} of {events}: {stats}")
    for leftover in tmp.glob("bench.db*"):
        leftover.unlink()
    return elapsed, requests, delivered


def emulator_capacity(tmp: Path, seconds: int) -> float:
    """Events per second the emulator takes in full batches, under wrk with 8 connections."""
    port = free_port()
    body = tmp / "body.json"
    body.write_text(
        json.dumps(
            {
                "event_source": "app",
                "event_source_id": "1",
                "data": [json.loads(payload(f"c-{i}")) for i in range(BATCH)],
            }
        )
    )
    with server(
        [sys.executable, "-m", "forwarder", "emulate", "--port", str(port)],
        f"http://127.0.0.1:{port}/_control/events",
        tmp / "emulator-capacity.log",
    ):
        result = wrk(
            f"http://127.0.0.1:{port}/open_api/v1.3/event/track/",
            seconds=seconds,
            connections=8,
            script="tiktok_body.lua",
            env={"BODY_FILE": str(body)},
        )
    return result.requests_s * BATCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        capacity = emulator_capacity(tmp, 8)
        rows = []
        for latency, rate in ((0, RATE), (200, RATE), (0, UNLIMITED)):
            events = args.events * (UNLIMITED_EVENTS_FACTOR if rate == UNLIMITED else 1)
            rows.append(Drain(latency, rate, *drain(tmp, events, latency, rate)))
    print(
        f"delivery of {args.events} pending events, default settings (batch {BATCH}, concurrency {CONCURRENCY}, "
        f"{RATE:.0f} req/s); emulator capacity (wrk, full batches) {capacity:.0f} events/s"
    )
    print(
        f"{'latency':>8} {'req/s cap':>9} {'events/s':>9} {'requests/s':>10} {'mean batch':>10} | "
        f"{'rate limit':>10} {'Little':>9} {'target of':>9} | {'ratio':>5}"
    )
    zero_ms = rows[0].delivered / rows[0].elapsed
    for latency, rate, elapsed, requests, delivered in rows:
        events_s, requests_s, mean_batch = delivered / elapsed, requests / elapsed, delivered / max(requests, 1)
        # The bucket starts full, so a drain of `requests` takes at least (requests - burst) / rate seconds.
        rate_bound = delivered * rate / max(requests - max(1.0, rate), 1.0) if rate < UNLIMITED else float("inf")
        little = CONCURRENCY / (latency / 1000) * BATCH if latency else float("inf")
        target = capacity if latency == 0 else min(little, zero_ms)
        print(
            f"{latency:>6}ms {rate:>9.0f} {events_s:>9.0f} {requests_s:>10.1f} {mean_batch:>10.0f} | "
            f"{rate_bound:>10.0f} {little:>9.0f} {target:>9.0f} | {events_s / target:>5.2f}"
        )
    print(
        "targets: 0 ms >= 0.30 of the emulator's capacity; with latency >= 0.80 of the lesser of Little's bound "
        f"and the 0 ms rate. The default rate limit bounds both (sustained: {RATE * BATCH:.0f} events/s); the "
        f"last row lifts it to {UNLIMITED:.0f} requests/s to measure the delivery loop itself "
        f"({UNLIMITED_EVENTS_FACTOR * args.events} events)."
    )


if __name__ == "__main__":
    main()

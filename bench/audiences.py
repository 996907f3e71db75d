"""Audience benchmark, in one run: what live audience rules cost ingest, and how fast the sync sends users.

    .venv/bin/python bench/audiences.py [--seconds 10] [--connections 64] [--users 100000] [--repeat 1]

1. Ingest: `forwarder serve` (1 worker, delivery off) under the same wrk load as bench/ingest.py (every event a
   PURCHASE with its own email and the same IDFA): with no audience; with one audience whose rule no event
   matches (what configured rules cost the events they do not name); with one that one event in 20 enters (every
   20th is a START_TRIAL: a trial audience in an app where trials are a few percent of events); and with one every
   event enters (the worst case: each event resolves a new user and writes a member row). The sync is off.
   Printed: events/s and the ratio to no audience.
2. Sync: a SQLite store seeded with --users members (as ingest stores them), sent by the sync loop to a separate
   `forwarder emulate` process in requests of 10,000 users within the default budget of 50 requests/s.
   Printed: users/s, and users/s over the ingest events/s without audiences (above 1: the sync keeps up with
   ingest at full speed).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port, server, write_config, wrk

from forwarder.audiences.signals import AudienceRules
from forwarder.audiences.sync import AudienceSync
from forwarder.marketing.client import MarketingClient
from forwarder.settings import Settings
from forwarder.store import IngestWrite, SQLiteStore

ADVERTISER = "7002238017842757633"


def audience(enter: str) -> str:
    return f"""
[audience_sync]
enabled = false
[audiences.bench]
advertiser_id = "{ADVERTISER}"
enter = {{ event = "{enter}" }}
"""


def ingest(
    tmp: Path, name: str, enter: str | None, args: argparse.Namespace, events: int, trial_every: int = 0
) -> float:
    """Events/s of `forwarder serve` with no audience (`enter` None) or one entered on `enter`; with
    `trial_every` N, every Nth event posted is a START_TRIAL."""
    port = free_port()
    run = tmp / name
    run.mkdir()
    store_url = f"sqlite:///{run / 'bench.db'}"
    extra = audience(enter) if enter is not None else ""
    config = write_config(run / "bench.toml", port=port, store_url=store_url, delivery=False, extra=extra)
    command = [sys.executable, "-m", "forwarder", "serve", "--config", str(config)]
    with server(command, f"http://127.0.0.1:{port}/healthz", run / "forwarder.log"):
        result = wrk(
            f"http://127.0.0.1:{port}/v1/events",
            seconds=args.seconds,
            connections=args.connections,
            events=events,
            env={"TRIAL_EVERY": str(trial_every)},
        )
    return result.requests_s * events


async def seed(store: SQLiteStore, settings: Settings, users: int) -> None:
    rules = AudienceRules(settings.audiences)
    now = time.time()
    for start in range(0, users, 5000):
        signals = [
            signal
            for i in range(start, min(users, start + 5000))
            for signal in rules.signals(
                "PURCHASE", f"e{i}", {"user": {"email": [hashlib.sha256(f"u{i}".encode()).hexdigest()]}}, now, False
            )
        ]
        await store.enqueue(IngestWrite(items=[], audience_signals=signals), now)


async def sync_rate(tmp: Path, users: int) -> float:
    port = free_port()
    emulator = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "forwarder", "emulate", "--port", str(port)]
    with server(command, f"{emulator}/marketing/_control/state", tmp / "emulator.log"):
        settings = Settings(
            audiences={"buyers": {"advertiser_id": ADVERTISER, "enter": {"event": "PURCHASE"}}},
            marketing={"access_token": "emulator-token"},
        )
        store = SQLiteStore(tmp / "sync.db")
        await store.open()
        try:
            await seed(store, settings, users)
            async with httpx.AsyncClient(timeout=60) as http:
                ready = await http.post(f"{emulator}/marketing/_control/script", json={"ready_after_s": 0})
                ready.raise_for_status()  # TikTok takes mappings a minute after creation; told so, at once
                client = MarketingClient(http, f"{emulator}/marketing")

                async def token() -> str:
                    return "emulator-token"

                sync = AudienceSync(store, lambda: settings, client, token, "bench", time.time)
                started = time.perf_counter()
                sent = 0
                while sent < users:
                    sent += await sync.sync_once()
                return sent / (time.perf_counter() - started)
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="trials of the four runs; medians, spread below")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        print(f"ingest, 1 worker, {args.connections} connections, {args.seconds} s per run, wrk on the same machine")
        if args.repeat > 1:
            print(f"the four runs back to back, {args.repeat} times: median events/s and ratio, spread of the ratios")
        print(
            f"{'events/req':>10} {'no audience ev/s':>17} | {'rule, no match':>14} {'ratio':>6} | "
            f"{'1 in 20 enters':>14} {'ratio':>6} | {'rule, all enter':>15} {'ratio':>6}"
        )
        without_single = 0.0
        for events in (1, 20):
            trials = []
            for trial in range(args.repeat):
                without = ingest(tmp, f"without-{events}-{trial}", None, args, events)
                idle = ingest(tmp, f"idle-{events}-{trial}", "START_TRIAL", args, events)  # the load sends PURCHASE
                some = ingest(tmp, f"some-{events}-{trial}", "START_TRIAL", args, events, trial_every=20)
                busy = ingest(tmp, f"busy-{events}-{trial}", "PURCHASE", args, events)
                trials.append((without, idle, some, busy))
            without = statistics.median(t[0] for t in trials)
            ratios = [[t[k] / t[0] for t in trials] for k in (1, 2, 3)]
            rates = [statistics.median(t[k] for t in trials) for k in (1, 2, 3)]
            without_single = without_single or without
            print(
                f"{events:>10} {without:>17.0f} | {rates[0]:>14.0f} {statistics.median(ratios[0]):>6.2f} | "
                f"{rates[1]:>14.0f} {statistics.median(ratios[1]):>6.2f} | {rates[2]:>15.0f} "
                f"{statistics.median(ratios[2]):>6.2f}"
            )
            if args.repeat > 1:
                spread = " | ".join(f"{min(r):.2f}-{max(r):.2f}" for r in ratios)
                print(f"{'':>10} ratios' spread: {spread}")
        rate = asyncio.run(sync_rate(tmp, args.users))
        print(f"sync: {args.users} users to `forwarder emulate` at {rate:,.0f} users/s")
        print(f"sync users/s over single-event ingest events/s without audiences: {rate / without_single:.2f}")


if __name__ == "__main__":
    main()

"""Cluster benchmark: ingest and delivery throughput of 1, 2 and 3 `forwarder serve` replicas on one PostgreSQL.

    .venv/bin/python bench/cluster.py [--postgres postgresql://postgres@127.0.0.1:5432] [--seconds 8]

Ingest: one wrk per replica (20-event requests, 32 connections each), summed. Delivery: a backlog drained to
the emulator (0 ms) with the destination's rate limit raised so the replicas, not the limit, are measured.
Everything shares this machine's cores with PostgreSQL and the load generators: read the ratios, not the
absolute figures, as what a second and third replica add here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import httpx
from common import free_port, server, write_config, wrk
from delivery import payload

from forwarder.store import IngestWrite, OutboxItem
from forwarder.store.postgres import PostgresStore


def replica_config(tmp: Path, index: int, port: int, database: str, emulator: str, delivery: bool) -> Path:
    # The rate limit is raised so the replicas, not the destination's limit, are measured.
    return write_config(
        tmp / f"replica-{index}.toml",
        port=port,
        store_url=database,
        tiktok_url=emulator,
        delivery=delivery,
        rate_limit_per_s=10_000,
    )


async def admin(server_url: str, sql: str) -> None:
    connection = await asyncpg.connect(f"{server_url}/postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def fill(database: str, n: int) -> None:
    store = PostgresStore(database)
    await store.open()
    try:
        for start in range(0, n, 1000):
            ids = [f"b-{i}" for i in range(start, min(n, start + 1000))]
            await store.enqueue(IngestWrite([OutboxItem("app", "Purchase", i, payload(i)) for i in ids]), time.time())
    finally:
        await store.close()


def start_emulator(stack: ExitStack, tmp: Path, port: int) -> str:
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "forwarder", "emulate", "--port", str(port)]
    stack.enter_context(server(command, f"{url}/_control/events", tmp / "emulator.log"))
    return url


def start_replicas(
    stack: ExitStack, tmp: Path, replicas: int, database: str, emulator: str, delivery: bool
) -> list[int]:
    """`replicas` services on `database`, stopped when `stack` closes; their ports."""
    ports = [free_port() for _ in range(replicas)]
    for index, port in enumerate(ports):
        config = replica_config(tmp, index, port, database, emulator, delivery=delivery)
        command = [sys.executable, "-m", "forwarder", "serve", "--config", str(config)]
        stack.enter_context(server(command, f"http://127.0.0.1:{port}/healthz", tmp / f"replica-{index}.log"))
    return ports


def run(server_url: str, replicas: int, seconds: int, backlog: int, tmp: Path) -> tuple[float, float]:
    name = f"forwarder_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(server_url, f'CREATE DATABASE "{name}"'))
    database = f"{server_url}/{name}"
    try:
        emulator_port = free_port()
        with ExitStack() as stack:
            emulator = start_emulator(stack, tmp, emulator_port)
            ports = start_replicas(stack, tmp, replicas, database, emulator, delivery=False)
            results: list[float] = []

            def load(port: int) -> None:
                result = wrk(f"http://127.0.0.1:{port}/v1/events", seconds=seconds, connections=32, events=20)
                results.append(result.requests_s * 20)

            threads = [threading.Thread(target=load, args=(port,)) for port in ports]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ingest = sum(results)
        asyncio.run(admin(server_url, f'DROP DATABASE "{name}" WITH (FORCE)'))
        asyncio.run(admin(server_url, f'CREATE DATABASE "{name}"'))
        asyncio.run(fill(database, backlog))
        with ExitStack() as stack:
            emulator = start_emulator(stack, tmp, emulator_port)
            started = time.monotonic()
            ports = start_replicas(stack, tmp, replicas, database, emulator, delivery=True)
            while True:
                app = httpx.get(f"http://127.0.0.1:{ports[0]}/v1/stats", timeout=30).json()["destinations"]["app"]
                if app["pending"] == 0 and app["in_flight"] == 0:
                    break
                time.sleep(0.2)
            delivery = backlog / (time.monotonic() - started)
        return ingest, delivery
    finally:
        asyncio.run(admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=50_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for replicas in (1, 2, 3):
            rows.append((replicas, *run(args.postgres, replicas, args.seconds, args.backlog, Path(directory))))
    base_ingest, base_delivery = rows[0][1], rows[0][2]
    print(f"cluster on one PostgreSQL; ingest: 20-event requests; delivery: {args.backlog} pending, TikTok at 0 ms")
    print(f"{'replicas':>8} {'ingest ev/s':>12} {'vs 1':>5} {'delivery ev/s':>14} {'vs 1':>5}")
    for replicas, ingest, delivery in rows:
        print(
            f"{replicas:>8} {ingest:>12.0f} {ingest / base_ingest:>5.2f} {delivery:>14.0f} "
            f"{delivery / base_delivery:>5.2f}"
        )


if __name__ == "__main__":
    main()

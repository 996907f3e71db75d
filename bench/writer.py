"""SQLite writer benchmark: how many events per second the store's writer process commits, alone.

    .venv/bin/python bench/writer.py [--seconds 8] [--clients 64] [--events 20]

Ours: `SQLiteStore.enqueue` from `--clients` concurrent tasks, each a request of `--events` events as the ingest
path builds them (dedup keys, outbox rows with a 600-byte payload, the hashed inbound copy, counters), through
the writer process, durable (synchronous = FULL). Baseline, same run: the least a durable SQLite outbox can do
with the same rows, in-process and without our pipe, one transaction per batch of the same size: rows appended
to one table with a unique index on the event id (the dedup key). The difference is our schema (dedup keys,
the event-id indexes of the ledger, the inbound copy, counters) and the pipe. Event ids are random, as
clients' are.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import cpu_s

from forwarder.store import InboundRecord, IngestWrite, OutboxItem, SQLiteStore

PAYLOAD = b'{"event":"Purchase","event_time":1795312904,"user":{"email":["' + b"a" * 64 + b'"]}' + b" " * 480
DOCUMENT = PAYLOAD + b" " * 100


def request(size: int) -> IngestWrite:
    ids = [secrets.token_hex(8) for _ in range(size)]
    return IngestWrite(
        [OutboxItem("app", "Purchase", i, PAYLOAD, None, "default@bench") for i in ids],
        Counter({("source", "bench", "received"): size}),
        [InboundRecord("bench", i, "PURCHASE", DOCUMENT) for i in ids],
    )


async def ours(path: Path, seconds: float, clients: int, size: int) -> tuple[float, float]:
    store = SQLiteStore(path)
    await store.open()
    writer = store._writer
    assert writer is not None and writer._process is not None
    pid = writer._process.pid
    stored = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal stored
        while time.monotonic() < deadline:
            await store.enqueue(request(size), time.time())
            stored += size

    started, cpu = time.perf_counter(), cpu_s(pid)
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed, cpu = time.perf_counter() - started, cpu_s(pid) - cpu
    await store.close()
    return stored / elapsed, cpu / stored * 1e6


def baseline(path: Path, seconds: float, batch: int) -> tuple[float, float]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, payload BLOB)")
    stored = 0
    started, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        rows = [(secrets.token_hex(8), PAYLOAD) for _ in range(batch)]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT INTO outbox (event_id, payload) VALUES (?, ?) ON CONFLICT DO NOTHING", rows)
        connection.execute("COMMIT")
        stored += batch
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    connection.close()
    return stored / elapsed, cpu / stored * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        base_rate, base_cpu = baseline(tmp / "baseline.db", args.seconds, args.clients * args.events)
        our_rate, our_cpu = asyncio.run(ours(tmp / "ours.db", args.seconds, args.clients, args.events))
    print(f"SQLite writer alone: {args.clients} clients x {args.events} events per request, synchronous FULL")
    print(f"{'':>9} {'events/s':>9} {'CPU us/event':>12}")
    print(f"{'ours':>9} {our_rate:>9.0f} {our_cpu:>12.1f}   (writer process)")
    print(f"{'baseline':>9} {base_rate:>9.0f} {base_cpu:>12.1f}   (rows + one unique event-id index, in-process)")
    print(f"ratio {our_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()

"""The writer process: read every client's jobs, commit them as one group, answer after COMMIT (see
../writer_process.py for the whole protocol)."""

from __future__ import annotations

import selectors
import signal
import socket
import sqlite3
from typing import Any

from .counters import Counters
from .db import connect
from .frames import Client, answer, pipe_client, socket_client
from .ingest import enqueue, enqueue_many
from .key_buckets import KeyBuckets
from .operations import OPERATIONS, take_key_token

# A group of 64 ingest requests of 20 events dirties ~1,000-1,400 pages (two random index leaves per event: the
# dedup key and the inbound event_id), so SQLite's default checkpoint at 1,000 WAL pages ran in nearly every COMMIT:
# an extra fdatasync and every page written twice per group. At 4,000 pages (a 16 MB WAL) a checkpoint comes every
# few groups and writes a leaf changed by several of them once (measured: ~11% less writer CPU per event).
WAL_CHECKPOINT_PAGES = 4000


Job = tuple[int, str, tuple[Any, ...]]
Answer = tuple[int, tuple[str, str] | None, Any]


def commit_group(connection: sqlite3.Connection, counters: Counters, jobs: list[Job]) -> list[Answer]:
    """Run `jobs` in one transaction; the answers, or the same failure for every job if COMMIT failed."""
    answers: list[Answer] = []
    try:
        connection.execute("BEGIN IMMEDIATE")
        for run in _runs(jobs):
            # A run that failed together runs again job by job, so that only the one at fault fails.
            if len(run) == 1 or not _run_together(connection, counters, run, answers):
                answers += [_run_alone(connection, counters, job) for job in run]
        counters.flush(connection)
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        # Disk full, I/O error, database locked: nothing in this group was stored.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        counters.forget()
        failure = ("store", f"the store could not commit: {error}")
        return [(job_id, failure, None) for job_id, _, _ in jobs]
    return answers


def _runs(jobs: list[Job]) -> list[list[Job]]:
    """The jobs in order, consecutive ingest requests together (they are stored by one set of statements)."""
    runs: list[list[Job]] = []
    for job in jobs:
        if runs and job[1] == enqueue.__name__ == runs[-1][0][1]:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _run_together(connection: sqlite3.Connection, counters: Counters, run: list[Job], answers: list[Answer]) -> bool:
    """Store a run of ingest requests at once; False (nothing of them kept) if any part failed."""
    connection.execute("SAVEPOINT job")
    try:
        results = enqueue_many(connection, counters, [args for _, _, args in run])
    except Exception:  # noqa: BLE001 - told apart when each job runs alone
        connection.execute("ROLLBACK TO job")
        connection.execute("RELEASE job")
        return False
    connection.execute("RELEASE job")
    answers += [(job_id, None, result) for (job_id, _, _), result in zip(run, results, strict=True)]
    return True


def _run_alone(connection: sqlite3.Connection, counters: Counters, job: Job) -> Answer:
    job_id, operation, args = job
    result: Answer
    connection.execute("SAVEPOINT job")
    try:
        result = (job_id, None, OPERATIONS[operation](connection, counters, *args))
    except sqlite3.Error as error:
        connection.execute("ROLLBACK TO job")
        result = (job_id, ("store", f"{type(error).__name__}: {error}"), None)
    except Exception as error:  # noqa: BLE001 - a bug in one job is that job's caller's answer
        connection.execute("ROLLBACK TO job")
        result = (job_id, ("bug", f"{type(error).__name__}: {error}"), None)
    connection.execute("RELEASE job")
    return result


def _answer_key_token(
    key_buckets: KeyBuckets, job: tuple[int, str, tuple[Any, ...]]
) -> tuple[int, tuple[str, str] | None, Any]:
    job_id, _, args = job
    try:
        return job_id, None, key_buckets.take(*args)
    except Exception as error:  # noqa: BLE001 - a bug in one job is that job's caller's answer
        return job_id, ("bug", f"{type(error).__name__}: {error}"), None


def serve(path: str, synchronous: str, max_group: int, listen: str | None) -> None:
    """Commit what the clients send until stdin closes; with `listen`, also take clients on that Unix socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Ingest inserts land on random pages of the event_id and dedup indexes: 32 MB of page cache instead of
    # SQLite's 2 MB keeps more of them between groups (measured: ~10% less writer CPU per event).
    connection = connect(path, synchronous, cache_mb=32)
    # Not `PRAGMA temp_store = MEMORY`, though it spares an ingest job's statement journal (the pages its SAVEPOINT
    # first changes) a temp file: ~15% less writer CPU per ingested event, but a job of thousands of statements
    # (an audience sync's settle of 10,000 members) then paid for the whole in-memory journal at every statement's
    # end (py-spy --native: 57% of the writer in sqlite3PagerSavepoint), and the sync fell from 10,500 to 4,600
    # users/s (bench/audiences.py).
    connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    counters = Counters()
    key_buckets = KeyBuckets()
    selector = selectors.DefaultSelector()
    parent = pipe_client()
    selector.register(parent.fileno, selectors.EVENT_READ, parent)
    sockets: dict[Client, socket.socket] = {}
    if listen is not None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(listen)
        listener.listen(64)
        selector.register(listener, selectors.EVENT_READ, None)
    while not parent.closed:
        jobs: list[tuple[Client, tuple[int, str, tuple[Any, ...]]]] = []
        timeout = None  # wait for the first job, then take every job already sent, without waiting
        while ready := selector.select(timeout):
            timeout = 0
            for key, _ in ready:
                client = key.data
                if client is None:
                    sock, _ = listener.accept()
                    client = socket_client(sock)
                    sockets[client] = sock
                    selector.register(sock, selectors.EVENT_READ, client)
                    continue
                jobs += [(client, job) for job in client.fill()]
                if client.closed:
                    selector.unregister(client.fileno)
        # Rate limit checks touch no file: answered at once, not after the group's COMMIT.
        in_memory = [pair for pair in jobs if pair[1][1] == take_key_token.__name__]
        if in_memory:
            jobs = [pair for pair in jobs if pair[1][1] != take_key_token.__name__]
            answer(in_memory, [_answer_key_token(key_buckets, job) for _, job in in_memory])
        for start in range(0, len(jobs), max_group):
            group = jobs[start : start + max_group]
            answer(group, commit_group(connection, counters, [job for _, job in group]))
        for client in [client for client in sockets if client.closed]:
            sockets.pop(client).close()
    connection.close()

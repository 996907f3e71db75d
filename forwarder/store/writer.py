"""One SQLite writer thread with group commit: many callers' writes share one transaction and one fsync.

A caller awaits its write; the future resolves only after COMMIT returned, so an answer sent after the
await is backed by durable storage. Each write runs in its own SAVEPOINT: one failing write is rolled back
alone and its caller gets the exception, while the others in the group still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from ..errors import StoreUnavailable

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass
class _Job:
    work: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller went away (cancelled); the write itself still stands
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        _settle(future, result, error)


class Writer:
    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        max_group: int,
        before_commit: Callable[[sqlite3.Connection], None] | None = None,
        after_rollback: Callable[[], None] | None = None,
    ) -> None:
        self._connection = connection
        self._max_group = max_group
        # Work the whole group shares (e.g. its counters), done once just before COMMIT, or forgotten on rollback.
        self._before_commit = before_commit
        self._after_rollback = after_rollback
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed or not self._thread.is_alive():
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, future, loop))
        return await future

    def stop(self) -> None:
        """Finish every queued write, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            group = [job]
            stopping = False
            while len(group) < self._max_group:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
            self._commit(group)
            if stopping:
                return

    def _commit(self, group: list[_Job]) -> None:
        connection = self._connection
        results: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for job in group:
                connection.execute("SAVEPOINT job")
                try:
                    result = job.work(connection)
                except Exception as error:  # noqa: BLE001 - handed to the caller that owns the write
                    connection.execute("ROLLBACK TO job")
                    results.append((job, None, error))
                else:
                    results.append((job, result, None))
                connection.execute("RELEASE job")
            if self._before_commit is not None:
                self._before_commit(connection)
            connection.execute("COMMIT")
        except sqlite3.Error as commit_error:
            # Disk full, I/O error, database locked: nothing in this group was stored.
            log.error("store.commit_failed", error=str(commit_error), writes=len(group))
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if self._after_rollback is not None:
                self._after_rollback()
            failure = StoreUnavailable(f"the store could not commit: {commit_error}")
            results = [(job, None, failure) for job in group]
        # One wake-up per event loop for the whole group, not one per write.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for job, result, job_error in results:
            by_loop.setdefault(job.loop, []).append((job.future, result, job_error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's event loop is already closed
                loop.call_soon_threadsafe(_settle_all, settled)

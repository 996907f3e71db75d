"""The parent's side of the SQLite writer process (sqlite_writer.py): send jobs, await their answers.

Jobs queued during one turn of the event loop leave in one frame, so a burst of requests costs one pipe write;
the child commits what it has read as one group and answers after COMMIT. If the child dies, every unanswered
caller gets StoreUnavailable (their writes may or may not have been committed: ingest clients retry, and dedup
makes the retry harmless) and the next write starts a new child.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import sys
from pathlib import Path
from typing import Any

import structlog

from ..errors import StoreUnavailable
from .sqlite_writer import HEADER

log = structlog.get_logger(__name__)

_CHILD = Path(__file__).with_name("sqlite_writer.py")


class WriterProcess:
    def __init__(self, path: Path, *, synchronous: str, max_group: int) -> None:
        self._command = [sys.executable, "-P", str(_CHILD), str(path), synchronous, str(max_group)]
        self._process: asyncio.subprocess.Process | None = None
        self._answers: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._unsent: list[tuple[int, str, tuple[Any, ...]]] = []
        self._next_id = 0
        self._starting = asyncio.Lock()
        self._closed = False

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._answers = asyncio.create_task(self._read_answers(self._process))

    def is_alive(self) -> bool:
        return self._answers is not None and not self._answers.done()

    async def call(self, operation: str, *args: Any) -> Any:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if not self.is_alive():
            async with self._starting:
                if not self.is_alive() and not self._closed:
                    log.error("store.writer_restarted")
                    await self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._next_id += 1
        self._waiting[self._next_id] = future
        if not self._unsent:
            loop.call_soon(self._send)
        self._unsent.append((self._next_id, operation, args))
        return await future

    def _send(self) -> None:
        jobs, self._unsent = self._unsent, []
        process = self._process
        if process is None or process.stdin is None or process.stdin.is_closing():
            self._fail([job_id for job_id, _, _ in jobs], "the SQLite writer process is not running")
            return
        data = pickle.dumps(jobs, protocol=pickle.HIGHEST_PROTOCOL)
        process.stdin.write(HEADER.pack(len(data)) + data)

    def _fail(self, job_ids: list[int], reason: str) -> None:
        for job_id in job_ids:
            future = self._waiting.pop(job_id, None)
            if future is not None and not future.done():
                future.set_exception(StoreUnavailable(reason))

    async def _read_answers(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (size,) = HEADER.unpack(await process.stdout.readexactly(HEADER.size))
                answers = pickle.loads(await process.stdout.readexactly(size))
                for job_id, error, result in answers:
                    future = self._waiting.pop(job_id, None)
                    if future is None or future.done():  # the caller went away; the write itself stands
                        continue
                    if error is None:
                        future.set_result(result)
                    elif error[0] == "store":
                        future.set_exception(StoreUnavailable(error[1]))
                    else:
                        future.set_exception(RuntimeError(f"SQLite writer: {error[1]}"))
        code = await process.wait()
        if not self._closed:
            log.error("store.writer_stopped", exit_code=code, unanswered=len(self._waiting))
        # Unanswered writes may or may not be committed; their callers must treat them as not stored.
        self._fail(list(self._waiting), "the SQLite writer process stopped")

    async def stop(self) -> None:
        """Let the child answer every job sent, then end it (EOF on its stdin)."""
        if self._closed:
            return
        self._closed = True
        if self._unsent:
            self._send()
        process = self._process
        if process is not None and process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(ConnectionError):
                await process.stdin.wait_closed()
        if self._answers is not None:
            await self._answers

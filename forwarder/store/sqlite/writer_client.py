"""The client side of the SQLite writer process (writer_process.py): send jobs, await their answers.

With one worker the store starts its own writer and talks to it over the child's stdin and stdout. With several
(`server.workers`), `forwarder serve` starts one writer before the workers and each worker connects to it over a
Unix socket, so they all share one group commit and SQLite keeps a single writer.

Jobs queued during one turn of the event loop leave in one frame, so a burst of requests costs one write, unless
the frame's first job has waited SEND_AFTER_S: then it leaves at once, so the writer commits one group while this
worker plans the next. The writer commits what it has read as one group and answers after COMMIT. If the writer
goes away, every unanswered caller gets StoreUnavailable (their writes may or may not have been committed: ingest
clients retry, and dedup makes the retry harmless); the next write starts a new writer, or reconnects to the
shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog

from ...errors import StoreUnavailable
from .writer.counters import Counters
from .writer.frames import HEADER

log = structlog.get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# A turn that plans 64 requests of 20 events holds its frame ~90 ms; with the writer idle meanwhile, the two
# processes took turns instead of overlapping (measured: 4,580 -> 6,206 events/s, worker 73% -> 93% busy). Not
# less: a frame per couple of single-event requests cost both processes a system call each (5 ms against 1 ms,
# paired runs: worker 618/501 -> 559/454 us and writer 211/182 -> 184/145 us per request; batches the same).
SEND_AFTER_S = 0.005
WRITER_SCRIPT = Path(__file__).with_name("writer_process.py")


def writer_command(path: Path, synchronous: str, max_group: int, listen: Path | None = None) -> list[str]:
    """`python -P`: the script's own directory is not put on sys.path, so it sees only the standard library."""
    command = [sys.executable, "-P", str(WRITER_SCRIPT), str(path), synchronous, str(max_group)]
    return command if listen is None else [*command, str(listen)]


class WriterClient:
    def __init__(self, path: Path, *, synchronous: str, max_group: int, socket: Path | None = None) -> None:
        self._command = writer_command(path, synchronous, max_group)
        self._socket = socket  # the shared writer's, or None to start our own
        self._process: asyncio.subprocess.Process | None = None
        self._stream: asyncio.StreamWriter | None = None
        self._answers: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}  # each awaits its operation's return type
        self._unsent: list[tuple[int, str, tuple[Any, ...]]] = []
        self._next_id = 0
        self._first_unsent_at = 0.0  # loop time of the oldest job in `_unsent`
        self._starting = asyncio.Lock()
        self._closed = False

    async def start(self) -> None:
        reader: asyncio.StreamReader
        if self._socket is not None:
            try:
                reader, self._stream = await asyncio.open_unix_connection(self._socket)
            except OSError as error:
                raise StoreUnavailable(f"the SQLite writer cannot be reached: {error}") from None
        else:
            self._process = await asyncio.create_subprocess_exec(
                *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
            assert self._process.stdin is not None and self._process.stdout is not None
            reader, self._stream = self._process.stdout, self._process.stdin
        self._answers = asyncio.create_task(self._read_answers(reader, self._process))

    def is_alive(self) -> bool:
        return self._answers is not None and not self._answers.done()

    async def ensure_running(self) -> None:
        """Start a new writer, or reconnect to the shared one, if ours went away; StoreUnavailable if we cannot."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if not self.is_alive():
            async with self._starting:
                if not self.is_alive() and not self._closed:
                    await self.start()  # raises StoreUnavailable while the shared writer is not back yet
                    log.warning("store.writer_reconnected" if self._socket else "store.writer_restarted")

    async def call(
        self, operation: Callable[Concatenate[sqlite3.Connection, Counters, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run one of the writer's operations (writer/operations.py) there: checked against its signature, sent by
        its name."""
        if kwargs:
            raise TypeError("writer operations take positional arguments only")
        await self.ensure_running()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._next_id += 1
        self._waiting[self._next_id] = future
        if not self._unsent:
            loop.call_soon(self._send)
            self._first_unsent_at = loop.time()
        self._unsent.append((self._next_id, operation.__name__, args))
        if loop.time() - self._first_unsent_at >= SEND_AFTER_S:
            self._send()  # the call_soon above then finds nothing to send
        return await future

    def _send(self) -> None:
        if not self._unsent:
            return
        jobs, self._unsent = self._unsent, []
        stream = self._stream
        if stream is None or stream.is_closing():
            self._fail([job_id for job_id, _, _ in jobs], "the SQLite writer is not running")
            return
        data = pickle.dumps(jobs, protocol=pickle.HIGHEST_PROTOCOL)
        stream.write(HEADER.pack(len(data)) + data)

    def _fail(self, job_ids: list[int], reason: str) -> None:
        for job_id in job_ids:
            future = self._waiting.pop(job_id, None)
            if future is not None and not future.done():
                future.set_exception(StoreUnavailable(reason))

    async def _read_answers(self, reader: asyncio.StreamReader, process: asyncio.subprocess.Process | None) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
                answers = pickle.loads(await reader.readexactly(size))
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
        code = await process.wait() if process is not None else None
        if not self._closed:
            log.error("store.writer_stopped", exit_code=code, unanswered=len(self._waiting))
        # Unanswered writes may or may not be committed; their callers must treat them as not stored.
        self._fail(list(self._waiting), "the SQLite writer stopped")

    async def stop(self) -> None:
        """Let the writer answer every job sent, then end the connection (and our own writer with it)."""
        if self._closed:
            return
        self._closed = True
        if self._unsent:
            self._send()
        stream = self._stream
        if stream is not None and not stream.is_closing():
            stream.write_eof()  # the writer still answers what it has read, then sees EOF
        if self._answers is not None:
            await self._answers
        if stream is not None:
            stream.close()
            with contextlib.suppress(ConnectionError):
                await stream.wait_closed()

"""The writer's clients and their frames: a 4-byte big-endian length and a pickle of a list of jobs, or of answers."""

from __future__ import annotations

import os
import pickle
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("!I")
READ_SIZE = 1 << 20


class Client:
    """One peer that sends jobs: the parent over stdin/stdout, or a worker process over the Unix socket."""

    def __init__(self, read: Callable[[], bytes], write: Callable[[bytes], None], fileno: int) -> None:
        self._read, self._write, self.fileno = read, write, fileno
        self._buffer = bytearray()
        self.closed = False

    def fill(self) -> list[tuple[int, str, tuple[Any, ...]]]:
        """Read what is there (the selector said something is); the jobs of every complete frame."""
        chunk = self._read()
        if not chunk:
            self.closed = True
        self._buffer += chunk
        jobs = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            jobs += pickle.loads(self._buffer[HEADER.size : end])
            del self._buffer[:end]
        return jobs

    def send(self, answers: list[tuple[int, tuple[str, str] | None, Any]]) -> None:
        data = pickle.dumps(answers, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._write(HEADER.pack(len(data)) + data)
        except OSError:
            self.closed = True  # the peer went away; its writes stand, it will not hear of them


def pipe_client() -> Client:
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(stdout, view) :]

    return Client(lambda: os.read(stdin, READ_SIZE), write, stdin)


def socket_client(sock: socket.socket) -> Client:
    return Client(lambda: sock.recv(READ_SIZE), sock.sendall, sock.fileno())


def answer(
    group: list[tuple[Client, tuple[int, str, tuple[Any, ...]]]], answers: list[tuple[int, tuple[str, str] | None, Any]]
) -> None:
    """Send each client the answers to its jobs of `group`, in one frame."""
    by_client: dict[Client, list[tuple[int, tuple[str, str] | None, Any]]] = {}
    for (client, _), answered in zip(group, answers, strict=True):
        by_client.setdefault(client, []).append(answered)
    for client, answered_jobs in by_client.items():
        client.send(answered_jobs)

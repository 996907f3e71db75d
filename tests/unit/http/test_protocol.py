"""The connection transport that joins a loop turn's writes (http/protocol.CoalescingTransport)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from forwarder.http.protocol import CoalescingTransport

pytestmark = pytest.mark.anyio


class RecordingTransport:
    """What the socket would have been asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 8080) if name == "sockname" else None


async def _next_turn() -> None:
    await asyncio.sleep(0)


async def test_a_turns_writes_leave_as_one_write_in_order() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert real.calls == []  # held until the turn ends
    await _next_turn()
    assert real.calls == [("write", b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}")]
    transport.write(b"next")
    await _next_turn()
    assert real.calls[-1] == ("write", b"next")


async def test_close_and_write_eof_send_what_is_held_first() -> None:
    loop = asyncio.get_running_loop()
    real = RecordingTransport()
    transport = CoalescingTransport(real, loop)  # type: ignore[arg-type]
    transport.write(b"answer")
    transport.close()
    assert real.calls == [("write", b"answer"), ("close", None)]
    await _next_turn()  # the flush scheduled by the write finds nothing left
    assert len(real.calls) == 2

    real = RecordingTransport()
    transport = CoalescingTransport(real, loop)  # type: ignore[arg-type]
    transport.write(b"refusal")
    transport.write_eof()
    assert real.calls == [("write", b"refusal"), ("write_eof", None)]


async def test_abort_drops_what_is_held_and_a_closed_socket_is_not_written() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"never sent")
    transport.abort()
    await _next_turn()
    assert real.calls == [("abort", None)]

    other = RecordingTransport()
    transport = CoalescingTransport(other, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"too late")
    other.closing = True  # the peer went away before the turn ended
    await _next_turn()
    assert other.calls == []


async def test_everything_else_is_the_real_transports() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8080)
    assert transport.is_closing() is False

"""The HTTP protocol `forwarder serve` runs: uvicorn's httptools protocol with a bounded request head and body.

httptools keeps any header as long as it keeps arriving (a 100 MB header grew the process by 120 MB) and uvicorn
waits for a head or body forever (a client sending a byte a second holds a connection and its buffers). Here a
head longer than `server.max_header_bytes` gets 431 as soon as that many bytes arrived without the head ending, a
head not complete after `server.header_timeout_s` gets 408, and a body not complete `server.body_timeout_s` after
its head closes the connection once answered (`ingest.read_body` answers 408 itself when it is the one waiting).
"""

from __future__ import annotations

import asyncio
import functools
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, cast

import httptools
import orjson
import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from ..settings import ServerSettings

log = structlog.get_logger(__name__)

# After an error answer the connection is read and discarded this long before it is closed: closing a socket with
# unread data sends a reset, and the client may lose the answer before reading it (nginx `lingering_time`).
LINGER_S = 2.0


@dataclass(frozen=True)
class RequestLimits:
    max_header_bytes: int
    header_timeout_s: float
    body_timeout_s: float


class CoalescingTransport:
    """A connection's transport whose writes within one turn of the event loop leave in one system call.

    uvicorn writes a response's head and its body separately: two `send` calls per answer, each of which runs the
    loopback (or NIC) send path. Held until the end of the turn, they leave as one; `close` and `write_eof` send
    what is held first. The rest is the real transport's (flow control stays with it: it sees each write, a turn
    later at most).
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop httptools at once; answered with 431."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """One client connection, as uvicorn's, with every request head and body bounded in size or time."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: RequestLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._awaiting_head = True  # no request head has completed since the last request (or since connecting)
        self._in_head = False  # a request has begun and its head is not complete
        self._head_received = 0  # bytes received while awaiting a head: its bound while httptools still holds it
        self._head_parsed = 0  # bytes of the head httptools has handed over (URL, names, values)
        self._head_too_large = False
        self._discarding = False  # answered and closing: what still arrives is dropped unread
        self._head_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast("asyncio.Transport", CoalescingTransport(transport, self.loop)))
        # A client that connects and sends nothing is waited for no longer than one that sends a head slowly.
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, plus the head's bounds: a parse error may be our own refusal of an oversized head.
        if self._discarding:
            return
        if self._awaiting_head:
            self._head_received += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._head_too_large:
                self._refuse_head_too_large()
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if not self._in_head or self.transport.is_closing():
            return
        if self._head_received > self.limits.max_header_bytes:
            self._refuse_head_too_large()
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_parsed = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = self._in_head = False
        self._head_received = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_head = True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # Limits

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > self.limits.max_header_bytes:
            self._head_too_large = True
            raise _HeadTooLarge

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._discarding:
            return
        if not self._in_head:
            self.transport.close()  # connected, but no request began: nothing to answer
            return
        log.info("http.header_timeout", client=self._client_host(), timeout_s=self.limits.header_timeout_s)
        seconds = f"{self.limits.header_timeout_s:g}"
        self._refuse(408, "header_timeout", f"the request headers did not arrive within {seconds} s")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.cycle is None or self.transport.is_closing():
            return
        log.info("http.body_timeout", client=self._client_host(), timeout_s=self.limits.body_timeout_s)
        if self.cycle.response_complete:
            self.transport.close()  # answered without reading the body: stop waiting for the rest of it
        else:
            self.cycle.keep_alive = False  # the app answers (408 if it was reading); then the connection closes

    def _refuse_head_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        log.warning("http.header_too_large", client=self._client_host(), limit=limit)
        self._refuse(431, "headers_too_large", f"the request line and headers exceed {limit} bytes")

    def _refuse(self, status: int, error: str, message: str) -> None:
        """Answer with a JSON error, then drop what the client still sends for a while, then close."""
        self._discarding = True
        self._cancel_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            # A response to an earlier (pipelined) request is being written: no answer in the middle of it.
            self.cycle.keep_alive = False
            return
        body = orjson.dumps({"error": error, "message": message})
        head = [STATUS_LINE[status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body)]
        self.transport.write(b"".join(head) + b"connection: close\r\n\r\n" + body)
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _client_host(self) -> str | None:
        return self.client[0] if self.client else None


def http_options(server: ServerSettings) -> dict[str, Any]:
    """What `uvicorn.run` needs for the bounded protocol and for trusting proxies, with one worker or several."""
    limits = RequestLimits(server.max_header_bytes, server.header_timeout_s, server.body_timeout_s)
    # uvicorn calls `http` with its own arguments; a partial of a module-level class and a dataclass pickles, so
    # the limits reach worker processes (spawned with the pickled config) too.
    protocol = cast("type[asyncio.Protocol]", functools.partial(BoundedHttpToolsProtocol, limits=limits))
    return {
        "http": protocol,
        # uvicorn's default believes X-Forwarded-For from 127.0.0.1 (or $FORWARDED_ALLOW_IPS); we believe nobody's
        # unless configured, since `allowed_ips` decides on the address it yields.
        "proxy_headers": bool(server.trusted_proxies),
        "forwarded_allow_ips": list(server.trusted_proxies),
    }

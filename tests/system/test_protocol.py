"""Bounded request heads, bodies and identifiers, and trusted proxies: attacks on a real `forwarder serve`."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.configs import service_config
from tests.conftest import event
from tests.processes import free_port, running

pytestmark = pytest.mark.slow

APP_KEY = "bounded-app-key"
PARTNER_KEY = "bounded-partner-key"
MB = 1024 * 1024


@dataclass
class Server:
    url: str
    port: int
    pid: int


@contextlib.contextmanager
def serving(tmp: Path, server: str = "") -> Iterator[Server]:
    """`forwarder serve` with 1 s head and body timeouts, an SDK source and a postback source behind an IP list."""
    port = free_port()
    config = service_config(
        tmp / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        server=[{"header_timeout_s": 1.0, "body_timeout_s": 1.0}, server],
        delivery={"enabled": False},
        sources={
            "app": {"keys": [APP_KEY]},
            "partner": {
                "kind": "generic",
                "app_id": "com.example.app",
                "keys": [PARTNER_KEY],
                "allowed_ips": ["203.0.113.0/24"],
                "fields": {"event": "type", "timestamp": "ts"},
            },
            "open_partner": {
                "kind": "generic",
                "app_id": "com.example.app",
                "keys": [f"{PARTNER_KEY}-open"],
                "fields": {"event": "type", "timestamp": "ts"},
            },
        },
        destinations={
            "app": {"event_source": "app", "event_source_id": "7301234567890123456", "access_token": "bounded-token"}
        },
    )
    url = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(config)], f"{url}/healthz", tmp / "serve.log") as process:
        yield Server(url, port, process.pid)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("bounded")) as running_server:
        yield running_server


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), f"no HTTP answer: {answer[:80]!r}"
    return int(answer.split(b" ", 2)[1])


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def exchange(port: int, sent: bytes, trickle: bytes = b"", every_s: float = 0.2) -> bytes:
    """Send `sent`, then `trickle` a byte at a time until the server answers; its answer (it must close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may stop reading once it answered
            sock.sendall(sent)
            for byte in trickle:
                if select.select([sock], [], [], every_s)[0]:
                    break
                sock.sendall(bytes([byte]))
        return read_answer(sock)


def peak_rss(pid: int) -> int:
    """The process's resident set high-water mark, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def head(path: str = "/healthz", method: str = "GET", *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_header_past_the_limit_answers_431(server: Server) -> None:
    """A 100 KB header gets 431 with a JSON error; a 60 KB one is still served."""
    assert status_of(exchange(server.port, head("/healthz", "GET", "X-Big: " + "a" * 60_000))) == 200
    answer = exchange(server.port, head("/healthz", "GET", "X-Big: " + "a" * 100_000))
    assert status_of(answer) == 431
    assert b'"error":"headers_too_large"' in answer


def test_large_bodies_and_pipelined_requests_are_not_taken_for_long_heads(server: Server) -> None:
    """Bytes after a head (a 600 KB body, a second request in the same packet) do not count towards its limit."""
    batch = {"events": [event(event_id=f"big-{i}") for i in range(1000)]}
    answer = httpx.post(
        f"{server.url}/v1/events", json=batch, headers={"Authorization": f"Bearer {APP_KEY}"}, timeout=30
    )
    assert answer.status_code == 202, answer.text
    padding = "X-Pad: " + "a" * 40_000
    pipelined = exchange(
        server.port, head("/healthz", "GET", padding) + head("/healthz", "GET", padding, "Connection: close")
    )
    assert pipelined.count(b"HTTP/1.1 200 OK") == 2


def test_a_header_streamed_past_the_limit_is_not_buffered(server: Server) -> None:
    """50 MB of one header, sent as fast as loopback takes it, do not grow the server by more than 30 MB."""
    before = peak_rss(server.pid)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            for _ in range(50):
                sock.sendall(b"a" * MB)
        growth = peak_rss(server.pid) - before
        assert growth < 30 * MB, f"the server grew by {growth / MB:.0f} MB"
        assert status_of(read_answer(sock)) == 431


def test_headers_sent_a_byte_at_a_time_answer_408(server: Server) -> None:
    """Slowloris: a head that never ends gets 408 and the connection closed (header_timeout_s = 1)."""
    answer = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", trickle=b"X-Slow: " + b"a" * 100)
    assert status_of(answer) == 408
    assert b'"error":"header_timeout"' in answer


def test_a_body_sent_a_byte_at_a_time_answers_408(server: Server) -> None:
    """An authorised body that trickles in gets 408 and the connection closed (body_timeout_s = 1)."""
    body = b'{"events": [' + b" " * 100 + b"]}"
    sent = head("/v1/events", "POST", f"Authorization: Bearer {APP_KEY}", f"Content-Length: {len(body)}")
    answer = exchange(server.port, sent, trickle=body)
    assert status_of(answer) == 408
    assert b'"error":"body_timeout"' in answer


def test_a_postback_body_sent_a_byte_at_a_time_answers_408(server: Server) -> None:
    body = b'{"type": "Purchase"' + b" " * 100 + b"}"
    sent = head(
        "/v1/postbacks/open_partner",
        "POST",
        f"Authorization: Bearer {PARTNER_KEY}-open",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    )
    answer = exchange(server.port, sent, trickle=body)
    assert status_of(answer) == 408
    assert b'"error":"body_timeout"' in answer


def test_a_body_nobody_reads_is_not_waited_for(server: Server) -> None:
    """A request answered before its body is read (401) cannot hold the connection by trickling the rest."""
    body = b" " * 100
    answer, closed = b"", False
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head("/v1/events", "POST", f"Content-Length: {len(body)}"))
        for byte in body:
            try:
                if select.select([sock], [], [], 0.2)[0]:
                    chunk = sock.recv(65536)
                    answer += chunk
                    if not chunk:
                        closed = True
                        break
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
    assert status_of(answer) == 401
    assert closed, "the server still waits for the rest of a body it will never read"


def test_eleven_emails_in_one_event_answer_422_naming_the_field(server: Server) -> None:
    emails = [f"person{i}@example.com" for i in range(11)]
    answer = httpx.post(
        f"{server.url}/v1/events",
        json=event(user={"email": emails}),
        headers={"Authorization": f"Bearer {APP_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 422, answer.text
    [rejection] = answer.json()["rejected"]
    assert [error["field"] for error in rejection["errors"]] == ["user.email"]
    ten = httpx.post(
        f"{server.url}/v1/events",
        json=event(event_id="ten", user={"email": emails[:10]}),
        headers={"Authorization": f"Bearer {APP_KEY}"},
        timeout=10,
    )
    assert ten.status_code == 202, ten.text


def postback_from(url: str, forwarded_for: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/postbacks/partner",
        json={"type": "Purchase", "ts": int(time.time())},
        headers={"Authorization": f"Bearer {PARTNER_KEY}", "X-Forwarded-For": forwarded_for},
        timeout=10,
    )


def test_forwarded_for_from_an_untrusted_peer_is_ignored(server: Server) -> None:
    """With no trusted proxies, a client cannot claim an allowed address with X-Forwarded-For."""
    answer = postback_from(server.url, "203.0.113.9")
    assert answer.status_code == 403, answer.text


def test_forwarded_for_from_a_trusted_proxy_is_believed(tmp_path: Path) -> None:
    with serving(tmp_path, 'trusted_proxies = ["127.0.0.1"]') as trusting:
        accepted = postback_from(trusting.url, "203.0.113.9")
        assert accepted.status_code == 202, accepted.text
        # What the client wrote itself stands left of what the proxy appended: the proxy's word counts.
        assert postback_from(trusting.url, "203.0.113.9, 198.51.100.7").status_code == 403


def test_limits_and_trusted_proxies_hold_in_every_worker(tmp_path: Path) -> None:
    with serving(tmp_path, 'workers = 2\ntrusted_proxies = ["127.0.0.0/8"]') as workers:
        statuses: set[int] = set()
        for _ in range(6):  # connections are spread over both workers
            statuses.add(status_of(exchange(workers.port, head("/healthz", "GET", "X-Big: " + "a" * 100_000))))
            statuses.add(postback_from(workers.url, "203.0.113.9").status_code)
        assert statuses == {431, 202}

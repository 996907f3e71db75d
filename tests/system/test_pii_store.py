"""No personal data in the clear, ever (issue 13, item 1): a fully populated event, every PII field we accept and
extras a sender might add, posted to a real `forwarder serve`; then every store file (SQLite main, `-wal`, read as
bytes while the server runs and after it stopped), every PostgreSQL row, the log and the ledger are searched for
each raw value. ip and user_agent go to TikTok unhashed, as TikTok requires: only the outbox row of the TikTok
body may hold them."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.configs import service_config
from tests.conftest import wait_for
from tests.postgres import postgres_database
from tests.processes import free_port, running

pytestmark = pytest.mark.slow

INGEST_KEY = "pii-ingest-key-4b1e"
PARTNER_KEY = "pii-partner-key-7a30"
ADMIN = {"Authorization": "Bearer pii-admin-token-92c7"}
IP, USER_AGENT = "203.0.113.77", "Example/9.1 (iPhone; iOS 18.1)"

# Each raw value, chosen so that no other byte sequence in a store file matches it by chance.
PII = {
    "user.email": " Zelphine.Quixotl@Example.org ",
    "user.phone": "+1 415 555 0142",
    "user.external_id": "cust-zq-8841",
    "user.first_name": "Zelphine",
    "user.last_name": "Quixotl",
    "user.zip_code": "ZQ9 8XW",
    "user.city": "Xanthoria Falls",
    "user.state": "Quivira",
    "user.country": "Wakandia",
    "user.date_of_birth": "1987-06-05",  # an extra: our format has no such field
    "user.address.street": "42 Wallaby Way",  # a nested extra
    "device.name": "Zelphines Phone",  # a device extra
    "usr.email": "typo.person@example.org",  # a misspelt top-level block
    "partner.customer.first": "Ombretta",  # through a postback adapter
    "partner.customer.city": "Vexholm",
    "partner.customer.email": "Ombretta.V@example.net",
}


def forms(value: str) -> set[bytes]:
    """The value as sent and as a normaliser would leave it (trimmed, lower-cased, without spaces, digits only)."""
    text = value.strip()
    digits = "".join(c for c in text if c.isdigit())
    found = {text, text.lower(), "".join(text.split()).lower(), "+" + digits if text.startswith("+") else text}
    return {form.encode() for form in found} | ({digits[-10:].encode()} if len(digits) >= 10 else set())


FORBIDDEN = {form: name for name, value in PII.items() for form in forms(value)}


def full_event(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event": "PURCHASE",
        "timestamp": int(time.time()),
        "app": {"id": "com.example.app", "platform": "ios"},
        "user": {
            "email": PII["user.email"],
            "phone": PII["user.phone"],
            "external_id": PII["user.external_id"],
            "first_name": PII["user.first_name"],
            "last_name": PII["user.last_name"],
            "zip_code": PII["user.zip_code"],
            "city": PII["user.city"],
            "state": PII["user.state"],
            "country": PII["user.country"],
            "date_of_birth": PII["user.date_of_birth"],
            "address": {"street": PII["user.address.street"]},
            "ttclid": "E.C.P.click-1",
        },
        "device": {"ip": IP, "user_agent": USER_AGENT, "name": PII["device.name"], "locale": "en-US"},
        "page": {"url": "https://shop.example.com/thanks"},
        "usr": {"email": PII["usr.email"]},
        "properties": {"value": 9.99, "currency": "USD", "contents": [{"content_id": "sku-1", "quantity": 1}]},
    }


def write_config(tmp: Path, port: int, store_url: str) -> Path:
    fields = {
        "event": "type",
        "event_id": "id",
        "timestamp": "ts",
        "user.first_name": "customer.first",
        "user.city": "customer.city",
        "user.email": "customer.email",
    }
    return service_config(
        tmp / "config.toml",
        port=port,
        store_url=store_url,
        embedded_emulator=True,
        top_level={"admin_token": ADMIN["Authorization"].removeprefix("Bearer ")},
        delivery={"poll_interval_s": 0.1},
        sources={
            "app": {"keys": [INGEST_KEY]},
            "partner": {"kind": "generic", "keys": [PARTNER_KEY], "app_id": "com.example.app", "fields": fields},
        },
        destinations={
            "app": {"event_source": "app", "event_source_id": "111", "access_token": "pii-access-token-5d0a"},
            "web": {
                "event_source": "web",
                "event_source_id": "C4PIIPIXEL",
                "access_token": "pii-access-token-5d0a",
                "mapping": "web",
                "page_url": "https://shop.example.com/",
            },
        },
    )


@contextmanager
def serve(tmp: Path, store_url: str) -> Iterator[str]:
    port = free_port()
    config = write_config(tmp, port, store_url)
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp / "serve.log"):
        yield base


def post_and_deliver(base: str) -> list[bytes]:
    """Post the event and a postback, wait until TikTok has all four, and return the ledgers as served."""
    key = {"Authorization": f"Bearer {INGEST_KEY}"}
    assert httpx.post(f"{base}/v1/events", json=full_event("pii-1"), headers=key, timeout=10).status_code == 202
    postback = {
        "type": "PURCHASE",
        "id": "pii-2",
        "ts": int(time.time()),
        "customer": {
            "first": PII["partner.customer.first"],
            "city": PII["partner.customer.city"],
            "email": PII["partner.customer.email"],
        },
    }
    partner = {"Authorization": f"Bearer {PARTNER_KEY}"}
    assert httpx.post(f"{base}/v1/postbacks/partner", json=postback, headers=partner, timeout=10).status_code == 202
    emulator = f"{base}/_emulator/_control/events"
    wait_for(lambda: httpx.get(emulator, headers=ADMIN, timeout=10).json()["count"] == 4, timeout_s=20)
    received = httpx.get(emulator, headers=ADMIN, timeout=10).json()["events"]
    assert {e["event_id"] for e in received} == {"pii-1", "pii-2"}
    return [httpx.get(f"{base}/v1/events/{i}", headers=ADMIN, timeout=10).content for i in ("pii-1", "pii-2")]


def leaks(data: bytes) -> list[str]:
    return sorted({f"{FORBIDDEN[form]} ({form.decode()})" for form in FORBIDDEN if form in data})


def sqlite_rows_outside_outbox(path: Path) -> bytes:
    """Every row of every table but the outbox, as text (read-only, beside the running server)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [
            value if isinstance(value, bytes) else str(value).encode()
            for table in tables
            if table != "outbox"
            for row in connection.execute(f'SELECT * FROM "{table}"')  # table names come from sqlite_master
            for value in row
        ]
    finally:
        connection.close()
    return b"\n".join(rows)


def test_no_raw_personal_data_in_sqlite_files_logs_or_ledger(tmp_path: Path) -> None:
    database = tmp_path / "forwarder.db"
    with serve(tmp_path, f"sqlite:///{database}") as base:
        ledgers = post_and_deliver(base)
        running_files = {path.name: path.read_bytes() for path in sorted(tmp_path.glob("forwarder.db*"))}
        outside_outbox = sqlite_rows_outside_outbox(database)
    stopped_files = {path.name: path.read_bytes() for path in sorted(tmp_path.glob("forwarder.db*"))}

    assert {"forwarder.db", "forwarder.db-wal"} <= set(running_files)
    assert any(b"pii-1" in data for data in running_files.values())  # the search reads the files that hold events
    for name, data in [*running_files.items(), *(("stopped " + k, v) for k, v in stopped_files.items())]:
        assert leaks(data) == [], name
    assert leaks(outside_outbox) == [] and IP.encode() not in outside_outbox
    assert USER_AGENT.encode() in outside_outbox  # the inbound copy keeps it: it identifies an app, not a person
    for ledger in ledgers:
        assert leaks(ledger) == []
    assert leaks((tmp_path / "serve.log").read_bytes()) == []


async def _dump_postgres(url: str) -> dict[str, bytes]:
    """Every row of every table, as text; bytea columns decoded, as they hold JSON."""
    connection = await asyncpg.connect(url)
    try:
        tables = [
            r["tablename"]
            for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        dump = {}
        for table in tables:
            rows = await connection.fetch(f'SELECT * FROM "{table}"')  # table names come from pg_tables
            dump[table] = b"\n".join(
                value if isinstance(value, bytes) else str(value).encode() for row in rows for value in row.values()
            )
        return dump
    finally:
        await connection.close()


def test_no_raw_personal_data_in_postgresql_rows(tmp_path: Path) -> None:
    with postgres_database() as url:
        with serve(tmp_path, url) as base:
            post_and_deliver(base)
        dump = asyncio.run(_dump_postgres(url))
    assert b"pii-1" in dump["inbound"] and b"pii-1" in dump["outbox"]
    for table, data in dump.items():
        assert leaks(data) == [], table
        if table != "outbox":
            assert IP.encode() not in data, table

"""The writer stores consecutive ingest requests of a group together: the outcome must be the one of storing them
one by one, a faulty request must fail alone, and the rest of the group must not notice."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from forwarder.store.sqlite.migrations import migrate
from forwarder.store.sqlite.writer.counters import Counters
from forwarder.store.sqlite.writer.db import connect
from forwarder.store.sqlite.writer.process import commit_group

NOW = 1_800_000_000.0
TABLES = (
    "dedup_keys",
    "outbox",
    "inbound",
    "order_keys",
    "order_matches",
    "counters",
    "series",
    "not_forwarded",
    "audience_seen",
    "audience_identities",
    "audience_members",
)


def item(event_id: str, destination: str = "app", event: str = "Purchase") -> tuple[Any, ...]:
    return (destination, event, event_id, b'{"event":"%s"}' % event_id.encode(), None, "default@1")


def request(
    now: float, *event_ids: str, orders: list[tuple[Any, ...]] | None = None, enters: str | None = None
) -> tuple[Any, ...]:
    items = [item(event_id) for event_id in event_ids]
    inbound = [("sdk", event_id, "PURCHASE", b"{}") for event_id in event_ids]
    counters = [("source", "sdk", "received", len(event_ids))]
    dropped = [("PURCHASE", "sdk", "no_destination", 1, event_ids[0])] if event_ids else []
    # The first event enters audience "trial" for the user with that external id (a user seen before is one user).
    ids = f'{{"external_id": "{enters}"}}'
    signals = [("trial", "enter", event_ids[0], ids, '["external_id"]', now, None, None, None, 0.0, None)]
    return (now, items, inbound, counters, orders or [], dropped, signals if enters else [], [])


def order(index: int, order_id: str, value: float) -> tuple[Any, ...]:
    return (index, order_id, "sdk", ("sdk",), value, "USD")


# Two runs of ingest requests, split by a claim. The first has fresh ids, a repeat within one request, a repeat of
# an earlier request's event and a faulty request (a malformed item: a bug in the caller), so it is stored request
# by request. The second is stored together: a report of an order, a second, different report of it (held), its
# resend and a repeat of an event of the first run.
JOBS = [
    (1, "enqueue", request(NOW, "a", "b")),
    (2, "enqueue", request(NOW + 0.001, "c", "c", "a")),
    (3, "enqueue", (NOW, [("app", "Purchase")], [], [], [], [], [], [])),
    (4, "claim_due", ("owner", "app", 2, NOW + 1, 30.0)),
    (5, "enqueue", request(NOW + 0.002, "d", orders=[order(0, "T1", 9.99)], enters="u1")),
    (6, "enqueue", request(NOW + 0.003, "e", orders=[order(0, "T1", 19.99)])),
    (7, "enqueue", request(NOW + 0.004, "e", "f", enters="u1")),
    (8, "enqueue", request(NOW + 0.005, "g", "b", enters="u2")),
]


def tables(connection: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall() for table in TABLES}


@pytest.fixture
def connections(tmp_path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    pair = []
    for name in ("together.db", "alone.db"):
        migrate(tmp_path / name, "FULL")
        pair.append(connect(str(tmp_path / name), "FULL"))
    return pair[0], pair[1]


def test_a_group_stores_what_its_requests_one_by_one_store(
    connections: tuple[sqlite3.Connection, sqlite3.Connection],
) -> None:
    together, alone = connections
    answers = commit_group(together, Counters(), JOBS)
    one_by_one = [answer for job in JOBS for answer in commit_group(alone, Counters(), [job])]

    assert answers == one_by_one
    assert [job_id for job_id, _, _ in answers] == [job_id for job_id, _, _ in JOBS]
    by_job = {job_id: (error, result) for job_id, error, result in answers}
    assert by_job[1] == (None, [1, 1])
    assert by_job[2] == (None, [1, 0, 0])  # "c" once, the second "c" and "a" duplicates
    assert by_job[3][0] is not None and by_job[3][0][0] == "bug" and by_job[3][1] is None
    assert by_job[4][0] is None and [row[3] for row in by_job[4][1]] == ["a", "b"]
    assert by_job[5] == (None, [1])
    assert by_job[6] == (None, [3])  # the same order with another value: held
    assert by_job[7] == (None, [0, 1])
    assert by_job[8] == (None, [1, 0])
    assert tables(together) == tables(alone)
    assert len(tables(together)["audience_members"]) == 2  # u1 entered once, u2 once


def test_a_faulty_request_stores_nothing_of_its_own(connections: tuple[sqlite3.Connection, sqlite3.Connection]) -> None:
    together, _ = connections
    commit_group(together, Counters(), JOBS)

    received = together.execute("SELECT value FROM counters WHERE metric = 'received'").fetchone()
    assert received == (2 + 3 + 1 + 1 + 2 + 2,)  # every request but the faulty one
    assert together.execute("SELECT count(*) FROM inbound").fetchone() == (11,)

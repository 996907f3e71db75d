"""The operations clients may ask for, by name: each is `(connection, counters, *args)`; args and results are plain
data (they cross a pipe)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from .admin import pause, replay_dead, resume
from .counters import Counters
from .delivery import claim_due, release, resolve, take_token
from .ingest import enqueue
from .orders import release_held
from .purge import purge
from .reports import log_report_pull, store_report_pull, take_report_lease

__all__ = [
    "OPERATIONS",
    "claim_due",
    "enqueue",
    "log_report_pull",
    "pause",
    "purge",
    "release",
    "release_held",
    "replay_dead",
    "resolve",
    "resume",
    "store_report_pull",
    "take_key_token",
    "take_report_lease",
    "take_token",
]

OPERATIONS: dict[str, Callable[..., Any]] = {
    operation.__name__: operation
    for operation in (
        enqueue,
        claim_due,
        resolve,
        take_token,
        release,
        purge,
        pause,
        resume,
        replay_dead,
        release_held,
        store_report_pull,
        log_report_pull,
        take_report_lease,
    )
}


def take_key_token(
    connection: sqlite3.Connection, counters: Counters, key_id: str, rate: float, burst: float, now: float
) -> float:
    """An ingest key's rate limit: `serve` answers it from memory (`KeyBuckets`) at once, never in a transaction."""
    raise RuntimeError("take_key_token is answered from memory by serve()")

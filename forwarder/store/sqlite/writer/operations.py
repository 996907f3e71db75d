"""The operations clients may ask for, by name: each is `(connection, counters, *args)`; args and results are plain
data (they cross a pipe)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from .activity import purge_activity
from .admin import pause, replay_dead, resume
from .audiences import (
    audience_timers,
    begin_creation,
    claim_members,
    forget_users,
    reset_synced,
    save_audience,
    settle_members,
)
from .counters import Counters
from .delivery import claim_due, release, resolve, take_token
from .ingest import enqueue
from .marketing import (
    consume_oauth_state,
    create_oauth_state,
    delete_marketing_credential,
    save_marketing_credential,
)
from .orders import release_held
from .past_runs import apply_run
from .purge import purge
from .reports import log_report_pull, store_report_pull, take_report_lease

__all__ = [
    "OPERATIONS",
    "apply_run",
    "audience_timers",
    "begin_creation",
    "claim_due",
    "claim_members",
    "consume_oauth_state",
    "create_oauth_state",
    "delete_marketing_credential",
    "enqueue",
    "forget_users",
    "log_report_pull",
    "pause",
    "purge",
    "purge_activity",
    "release",
    "release_held",
    "replay_dead",
    "reset_synced",
    "resolve",
    "resume",
    "save_audience",
    "save_marketing_credential",
    "settle_members",
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
        audience_timers,
        claim_members,
        settle_members,
        forget_users,
        save_audience,
        begin_creation,
        reset_synced,
        save_marketing_credential,
        delete_marketing_credential,
        create_oauth_state,
        consume_oauth_state,
        store_report_pull,
        log_report_pull,
        take_report_lease,
        apply_run,
        purge_activity,
    )
}


def take_key_token(
    connection: sqlite3.Connection, counters: Counters, key_id: str, rate: float, burst: float, now: float
) -> float:
    """An ingest key's rate limit: `serve` answers it from memory (`KeyBuckets`) at once, never in a transaction."""
    raise RuntimeError("take_key_token is answered from memory by serve()")

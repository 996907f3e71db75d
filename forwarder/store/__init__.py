"""Store backends behind one interface; `store.url` picks the backend."""

from __future__ import annotations

import os
from pathlib import Path

from ..settings import StoreSettings
from .base import (
    Claimed,
    InboundRecord,
    IngestWrite,
    NotForwarded,
    OrderClaim,
    OutboxItem,
    Pause,
    Resolution,
    State,
    Store,
    Stored,
)
from .sqlite.store import SQLiteStore

# Set by `forwarder serve` for its workers when several share one SQLite writer (server.workers > 1).
WRITER_SOCKET_ENV = "FORWARDER_SQLITE_WRITER_SOCKET"

__all__ = [
    "Claimed",
    "InboundRecord",
    "IngestWrite",
    "NotForwarded",
    "OrderClaim",
    "OutboxItem",
    "Pause",
    "Resolution",
    "SQLiteStore",
    "State",
    "Store",
    "Stored",
    "make_store",
]


def make_store(settings: StoreSettings) -> Store:
    """The backend for `settings.url`: `sqlite:///PATH` (one process) or `postgresql://...` (several replicas)."""
    if settings.url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore  # asyncpg is only needed when PostgreSQL is used

        return PostgresStore(settings.url, pool_size=settings.pool_size)
    shared_writer = os.environ.get(WRITER_SOCKET_ENV)
    return SQLiteStore(
        settings.sqlite_path,
        synchronous=settings.sqlite_synchronous,
        group_commit_max=settings.group_commit_max,
        writer_socket=Path(shared_writer) if shared_writer else None,
    )

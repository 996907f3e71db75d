"""Store backends behind one interface; `store.url` picks the backend."""

from __future__ import annotations

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


def make_store(settings: StoreSettings, *, writer_socket: Path | None = None) -> Store:
    """The backend for `settings.url`: `sqlite:///PATH` (one process) or `postgresql://...` (several replicas).

    `writer_socket`: the SQLite writer `forwarder serve` shares between its workers (`worker_env.py`)."""
    if settings.url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore  # asyncpg is only needed when PostgreSQL is used

        return PostgresStore(settings.url, pool_size=settings.pool_size)
    return SQLiteStore(
        settings.sqlite_path,
        synchronous=settings.sqlite_synchronous,
        group_commit_max=settings.group_commit_max,
        writer_socket=writer_socket,
    )

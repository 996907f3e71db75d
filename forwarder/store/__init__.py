"""Store backends behind one interface; `store.url` picks the backend."""

from __future__ import annotations

from ..settings import StoreSettings
from .base import Claimed, InboundRecord, IngestWrite, OutboxItem, Pause, Resolution, State, Store
from .sqlite import SQLiteStore

__all__ = [
    "Claimed",
    "InboundRecord",
    "IngestWrite",
    "OutboxItem",
    "Pause",
    "Resolution",
    "SQLiteStore",
    "State",
    "Store",
    "make_store",
]


def make_store(settings: StoreSettings) -> Store:
    """The backend for `settings.url`; only `sqlite:///PATH` for now."""
    return SQLiteStore(
        settings.sqlite_path, synchronous=settings.sqlite_synchronous, group_commit_max=settings.group_commit_max
    )

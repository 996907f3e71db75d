"""Audience signals as ingest stores them (store/audiences.py), for the ledger's tests on both backends."""

from __future__ import annotations

import json

from forwarder.store import IngestWrite, Store
from forwarder.store.audiences import AudienceSignal

ALL_TYPES = ("email", "phone", "idfa", "gaid")


def signal(
    action: str,
    event_id: str,
    at: float,
    *,
    audience: str = "trial",
    due_at: float | None = None,
    expires_at: float | None = None,
    consent: str | None = None,
    types: tuple[str, ...] = ALL_TYPES,
    **ids: str,
) -> AudienceSignal:
    """One event's effect on `audience`; `ids` the hashed identifiers by type (email=..., idfa=...)."""
    return AudienceSignal(
        audience, action, event_id, json.dumps(ids), json.dumps(list(types)), at, due_at, expires_at, consent
    )


async def ingest(store: Store, *signals: AudienceSignal, now: float) -> None:
    """Store the signals as ingest does: in an ingest write of their own (no outbox items)."""
    assert await store.enqueue(IngestWrite(items=[], audience_signals=list(signals)), now) == []

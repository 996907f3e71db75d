"""Each audience as ops see it (API, status page, CLI, Prometheus): definition, TikTok side, Braze's numbers."""

from __future__ import annotations

import json
from typing import Any

from ..settings import Settings
from ..store import Store
from .lifecycle import SIZE_THRESHOLD, tiktok_name

FIGURES = (
    "entered",
    "synced",
    "not_synced",
    "held_out",
    "over_cap",
    "pending",
    "errored",
    "members",
    "waiting",
    "sent",
)
STATUS_TEXT = {
    None: "not created yet: created at the first sync",
    "active": "syncing",
    "creating": "being created",
    "not_found": "audience not found in TikTok",
    "paused": "paused: TikTok refuses the credential",
    "no_credential": "no Marketing API credential: connect TikTok or set marketing.access_token",
    "error": "could not be created",
}
SIZE_NOTES = {
    "below_threshold": f"below {SIZE_THRESHOLD:,}, hidden by TikTok",
    "fetch_failed": "couldn't fetch",
}


async def audience_documents(store: Store, settings: Settings) -> dict[str, dict[str, Any]]:
    if not settings.audiences:
        return {}
    states = await store.audiences.states()
    figures = await store.audiences.figures()
    return {name: _document(name, settings, states.get(name), figures.get(name)) for name in settings.audiences}


def _document(
    name: str, settings: Settings, state: dict[str, Any] | None, figures: dict[str, Any] | None
) -> dict[str, Any]:
    definition = settings.audiences[name]
    state, figures = state or {}, figures or {}
    totals = figures.get("totals") or {}
    # A capped live audience's members beyond the cap wait, unsent, for a member to leave: over the cap, not pending.
    cap = definition.max_members if definition.past is None else None
    live_waiting = min(figures.get("pending", 0), max(0, figures.get("members", 0) - cap)) if cap else 0
    status = state.get("status")
    problem = json.loads(state["problem"]) if state.get("problem") else None
    note = SIZE_NOTES.get(state.get("size_note") or "")
    if status == "not_found":
        note = "audience not found"
    return {
        "name": name,
        "description": definition.description,
        "advertiser_id": definition.advertiser_id,
        "tiktok_name": tiktok_name(name, definition),
        "tiktok_audience_id": state.get("tiktok_id"),
        "status": status or "not_created",
        "status_text": STATUS_TEXT.get(status, status),
        "problem": problem,
        "entered": totals.get("entered", 0),
        "synced": figures.get("synced", 0),
        "not_synced": figures.get("not_synced", 0),
        "not_synced_by_reason": figures.get("not_synced_by_reason", {}),
        "held_out": figures.get("held_out", 0),
        "over_cap": figures.get("over_cap", 0) + live_waiting,
        "past_run": json.loads(state["past_run"]) if state.get("past_run") else None,
        "pending": figures.get("pending", 0) - live_waiting,
        "errored": figures.get("errored", 0),
        "members": figures.get("members", 0),
        "waiting": figures.get("waiting", 0),
        "sent": totals.get("sent", 0),
        "left": {k: totals.get(k, 0) for k in ("exited", "cancelled", "expired")},
        "anonymous_events": totals.get("anonymous", 0),
        "size": {
            "now": None if note else state.get("size_now"),
            "at_first_sync": state.get("size_first"),
            "checked_at": state.get("size_at"),
            "note": note,
        },
        "daily": figures.get("daily", [])[:90],
        "rules": {
            "enter": definition.enter.model_dump() if definition.enter else None,
            "past": definition.past.model_dump() if definition.past else None,
            "goal": definition.goal.model_dump() if definition.goal else None,
            "holdout_share": definition.holdout_share,
            "max_members": definition.max_members,
            "unless": definition.unless.model_dump() if definition.unless else None,
            "exit": definition.exit.model_dump() if definition.exit else None,
            "ttl_s": definition.ttl_s,
            "identifiers": list(definition.identifiers),
        },
    }

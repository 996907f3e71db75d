"""Ledger rows -> the audience figures and member views both stores answer with (Braze's set of numbers)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

COUNTERS = ("entered", "waiting", "cancelled", "exited", "expired", "sent", "errored", "anonymous")


def audience_figures(
    members: Iterable[Sequence[Any]], counters: Iterable[Sequence[Any]], daily: Iterable[Sequence[Any]]
) -> dict[str, dict[str, Any]]:
    """`members`: (audience, state, synced, held, is_errored, dirty, count) groups; `counters`: (audience, metric,
    value); `daily`: (audience, day, adds, deletes), newest first."""
    figures: dict[str, dict[str, Any]] = {}

    def of(name: str) -> dict[str, Any]:
        return figures.setdefault(
            name,
            {
                "members": 0,  # desired in (what TikTok should hold)
                "waiting": 0,  # entered, waiting for the `unless` window to pass
                "synced": 0,  # TikTok holds them (acknowledged with code 0)
                "pending": 0,  # a change not yet acknowledged, still being tried
                "not_synced": 0,  # never sent: no usable identifier, or consent
                "not_synced_by_reason": {},
                "held_out": 0,  # the control group: qualifying, held back on purpose, counted for lift
                "over_cap": 0,  # qualifying, beyond the target cap (max_members)
                "errored": 0,  # given up on after the retry horizon, or refused for good
                "totals": dict.fromkeys(COUNTERS, 0),
                "daily": [],
            },
        )

    for audience, state, synced, held, is_errored, dirty, count in members:
        entry = of(audience)
        if state == "in" and held != "control_group":  # the control group is not members: counted apart
            entry["members"] += count
        if state == "pending":
            entry["waiting"] += count
        if synced == "in":
            entry["synced"] += count
        if held == "over_cap":
            entry["over_cap"] += count
        elif held == "control_group":
            entry["held_out"] += count if state != "out" else 0
        elif held and state != "out":
            entry["not_synced"] += count
            entry["not_synced_by_reason"][held] = entry["not_synced_by_reason"].get(held, 0) + count
        if is_errored:
            entry["errored"] += count
        elif dirty:
            entry["pending"] += count
    for audience, metric, value in counters:
        entry = of(audience)
        if metric in entry["totals"]:
            entry["totals"][metric] = value
    for audience, day, adds, deletes in daily:
        of(audience)["daily"].append({"day": day, "adds": adds, "deletes": deletes})
    return figures


def member_view(row: dict[str, Any]) -> dict[str, Any]:
    """A ledger row as `explain` shows it: which identifier types it has, never their values."""
    return {
        "audience": row["audience"],
        "state": row["state"],
        "synced": row["synced"],
        "held": row["held"],
        "errored": row["errored"],
        "problem": row["problem"],
        "identifiers": sorted(json.loads(row["ids"])),
        "entered_at": row["entered_at"],
        "due_at": row["due_at"],
        "expires_at": row["expires_at"],
        "changed_at": row["changed_at"],
        "synced_at": row["synced_at"],
        "attempts": row["attempts"],
        "first_failure_at": row["first_failure_at"],  # retried since (given up on after the retry horizon)
        "next_attempt_at": row["next_attempt_at"],
        "request_ids": json.loads(row["request_ids"]) if isinstance(row["request_ids"], str) else row["request_ids"],
        "forgetting": bool(row["forget"]),
    }

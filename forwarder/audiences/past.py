"""Past-behaviour runs: on each audience's schedule, who qualifies now, split into members, the control group and
those over the target cap, applied to the ledger as one change set (the sync then sends it like any other).

A run reads the activity table (audiences/activity.py), assigns by keyed hash (assignment.py: the hold-out and the
cap are functions of the user and the audience's name, never of arrival order or of which replica runs), and
hands the store the whole result at once: applied in one transaction, so a run killed half-way left nothing and
is simply run again; a run another replica applied first (the audience's last run changed) is a no-op.
Users whose consent or missing identifiers keep them from TikTok are recorded as not synced and take no part in
the split: members and control are drawn from the same users, those we could send.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog

from ..settings import Settings
from ..settings_audiences import AudienceSettings
from ..store import Store
from ..store.audiences import PastRun
from ..store.sqlite.writer.holdout import audience_secret
from .activity import activity_key
from .assignment import assign

log = structlog.get_logger(__name__)


def since_day(now: float, within_days: int) -> str:
    """The first UTC day of the window: the last `within_days` days, today included."""
    return time.strftime("%Y-%m-%d", time.gmtime(now - (within_days - 1) * 86400))


async def run_due(store: Store, settings: Settings, now: float) -> dict[str, dict[str, Any]]:
    """Run every past-behaviour audience whose schedule is due; each run's summary by audience."""
    states = await store.audiences.states()
    done = {}
    for name, audience in settings.audiences.items():
        if audience.past is None:
            continue
        last = (states.get(name) or {}).get("past_run_at")
        due = audience.past.next_run(last)
        if due is not None and due <= now:
            summary = await run_once(store, name, audience, last, now)
            if summary is not None:
                done[name] = summary
    if done or any(a.past or a.goal for a in settings.audiences.values()):
        await store.audiences.purge_activity(now - settings.audience_sync.activity_retention_days * 86400)
    return done


async def run_once(
    store: Store, name: str, audience: AudienceSettings, last_run: float | None, now: float
) -> dict[str, Any] | None:
    """Evaluate the rule now and apply the change set; None when another replica applied this run first."""
    past = audience.past
    assert past is not None
    rows = await store.audiences.qualifying(
        activity_key(past.did, past.when),
        since_day(now, past.within_days),
        past.at_least,
        past.value_at_least,
        activity_key(past.not_did, {}) if past.not_did else None,
    )
    types = set(audience.identifiers)
    held: dict[str, str | None] = {}
    for user, _first, consent, id_types in rows:
        if consent == "limited_data_use" and not audience.sync_limited_data_use:
            held[user] = "limited_data_use"
        elif consent == "att_denied" and not audience.sync_att_denied:
            held[user] = "att_denied"
        elif not types & set(json.loads(id_types or "[]")):
            held[user] = "no_identifier"
    eligible = [user for user, *_ in rows if user not in held]
    split = assign(
        audience_secret(name, audience.holdout_key),
        name,
        eligible,
        control_share=audience.holdout_share,
        cap=audience.max_members,
    )
    held |= dict.fromkeys(split.control, "control_group") | dict.fromkeys(split.over_cap, "over_cap")
    users = [(user, held.get(user), now) for user, *_ in rows]
    run = PastRun(name, last_run, now, users, json.dumps(list(audience.identifiers)))
    summary = await store.audiences.apply_run(run, now)
    if summary is not None:
        # The run it follows too: with replicas, each applied run names a different predecessor (applied once).
        log.info("audience.past_run", audience=name, at=now, after=last_run, **summary)
    return summary

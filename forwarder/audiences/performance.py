"""An audience's performance: conversions of its goal, members against the control group (lift with 95% intervals,
or "not enough data yet"), trends by day, week and month, and the Sent > Converted funnel: the document
`/v1/audiences/{name}/performance` (JSON and CSV), `forwarder audiences performance NAME` and the status page share.

Members count from when TikTok first held them, the control group from when they qualified (they are never sent);
the arithmetic is outcomes.py, lift.py, intervals.py and trends.py's.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from ..settings import Settings
from ..store import Store
from .activity import activity_key
from .intervals import Interval
from .lift import Lift, measure_lift
from .outcomes import Conversion, Group, GroupSummary, UserOutcome
from .trends import Period, funnel, trend

TESTS = {
    "rate_difference": "Newcombe hybrid score interval (method 10)",
    "rate_ratio": "Katz log interval",
    "revenue_per_user_difference": "Welch t interval",
}
CSV_COLUMNS = ("kind", "period", "group", "users", "converted", "conversions", "revenue")


async def performance(store: Store, settings: Settings, name: str, now: float) -> dict[str, Any]:
    audience = settings.audiences[name]
    if audience.goal is None:
        return {"audience": name, "status": "no_goal", "reason": "no goal configured: set goal = { event = ... }"}
    goal = audience.goal
    groups, conversions = await store.audiences.outcomes(name, activity_key(goal.event, goal.when))
    return document(name, goal.event, goal.within_days, groups, conversions, now, settings.audience_sync.lift_min_users)


async def performances(store: Store, settings: Settings, now: float) -> dict[str, dict[str, Any]]:
    """Each audience with a goal: its performance document."""
    return {name: await performance(store, settings, name, now) for name, a in settings.audiences.items() if a.goal}


def document(
    name: str,
    goal_event: str,
    within_days: float,
    groups: list[tuple[str, str, float]],
    conversions: list[tuple[str, float, float]],
    now: float,
    min_users: int,
) -> dict[str, Any]:
    """The performance document from the store's rows (pure: the tests pin its arithmetic)."""
    window = timedelta(days=within_days)
    by_user: defaultdict[str, list[Conversion]] = defaultdict(list)
    for user, at, value in conversions:
        by_user[user].append(Conversion(_time(at), float(value)))
    outcomes = [
        UserOutcome(Group(group), _time(started), tuple(by_user.get(user, ())))
        for user, group, started in groups
        if started is not None
    ]
    lift = measure_lift(outcomes, window=window, as_of=_time(now), min_users_per_group=min_users)
    flow = funnel(outcomes, window=window)
    return {
        "audience": name,
        "goal": {"event": goal_event, "within_days": within_days},
        "status": lift.status.value,
        "reason": lift.reason,
        "confidence": lift.confidence,
        "min_users_per_group": min_users,
        "tests": TESTS,
        "members": _group(lift.members),
        "control": _group(lift.control),
        **_comparison(lift),
        "funnel": {
            "sent": flow.sent,
            "converted": flow.converted,
            "held_out": flow.held_out,
            "held_out_converted": flow.held_out_converted,
            "conversion_rate": flow.conversion_rate,
        },
        "trends": {
            period.value: [
                {
                    "period": p.period,
                    "group": p.group.value,
                    "started": p.started,
                    "converted": p.converted,
                    "conversions": p.conversions,
                    "revenue": p.revenue,
                }
                for p in trend(outcomes, period=period, window=window)
            ]
            for period in Period
        },
    }


def as_csv(doc: dict[str, Any]) -> str:
    """One table: each group's matured summary, then every trend point."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group in ("members", "control"):
        g = doc.get(group)
        if g:
            writer.writerow(["summary", "", group, g["users"], g["converted"], g["conversions"], g["revenue"]])
    for kind, points in (doc.get("trends") or {}).items():
        for p in points:
            writer.writerow([kind, p["period"], p["group"], p["started"], p["converted"], p["conversions"],
                             p["revenue"]])  # fmt: skip
    return out.getvalue()


def _group(summary: GroupSummary) -> dict[str, Any]:
    return {
        "users": summary.users,  # whose goal window has ended: the ones lift compares
        "in_window": summary.in_window,  # still inside their window: not counted yet
        "converted": summary.converted,
        "conversions": summary.conversions,
        "revenue": summary.revenue,
        "conversion_rate": summary.conversion_rate,
        "revenue_per_user": summary.revenue_per_user,
    }


def _comparison(lift: Lift) -> dict[str, Any]:
    def figure(value: float | None, interval: Interval | None) -> dict[str, Any]:
        return {
            "value": value,
            "low": interval.low if interval else None,
            "high": interval.high if interval else None,
        }

    return {
        "rate_difference": figure(lift.rate_difference, lift.rate_difference_interval),
        "rate_ratio": figure(lift.rate_ratio, lift.rate_ratio_interval),
        "ratio_note": lift.ratio_note,
        "revenue_per_user_difference": figure(
            lift.revenue_per_user_difference, lift.revenue_per_user_difference_interval
        ),
        "revenue_per_user_ratio": lift.revenue_per_user_ratio,
    }


def _time(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)

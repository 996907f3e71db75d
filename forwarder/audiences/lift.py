"""Lift: members against the control group, with 95% intervals, or "not enough data yet".

Conversion rate: the difference with Newcombe's hybrid score interval and the ratio with the Katz log interval.
Revenue per user: the difference with Welch's t interval; its ratio is a point estimate only. See `intervals`.
Below `min_users_per_group` matured users in either group no comparison is made: the report says why and still
carries both groups' counts. With zero conversions in a group the difference and its interval are still given
(Wilson intervals are defined at zero); the ratio is None when the control has none (division by zero) and its
interval is None when either group has none (the log of zero), with `ratio_note` saying so.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from forwarder.audiences.intervals import Interval, katz_ratio, newcombe_difference, welch_difference
from forwarder.audiences.outcomes import Group, GroupSummary, UserOutcome, summarise

MIN_USERS_PER_GROUP = 100


class LiftStatus(StrEnum):
    """Whether the comparison was made."""

    READY = "ready"
    NOT_ENOUGH_DATA = "not_enough_data"


@dataclass(frozen=True)
class Lift:
    """Members against control: differences and ratios with their intervals (None where undefined)."""

    status: LiftStatus
    reason: str | None
    confidence: float
    members: GroupSummary
    control: GroupSummary
    rate_difference: float | None = None
    rate_difference_interval: Interval | None = None
    rate_ratio: float | None = None
    rate_ratio_interval: Interval | None = None
    ratio_note: str | None = None
    revenue_per_user_difference: float | None = None
    revenue_per_user_difference_interval: Interval | None = None
    revenue_per_user_ratio: float | None = None


def compare(
    members: GroupSummary,
    control: GroupSummary,
    *,
    confidence: float = 0.95,
    min_users_per_group: int = MIN_USERS_PER_GROUP,
) -> Lift:
    """Compare two group summaries; the arithmetic behind every figure on the lift report."""
    smallest = min(members.users, control.users)
    if smallest < max(min_users_per_group, 2):
        reason = (
            f"not enough data yet: {members.users} members and {control.users} control users have finished their"
            f" window; {min_users_per_group} of each are needed"
        )
        return Lift(LiftStatus.NOT_ENOUGH_DATA, reason, confidence, members, control)
    x1, n1, x2, n2 = members.converted, members.users, control.converted, control.users
    rate_ratio = (x1 / n1) / (x2 / n2) if x2 else None
    ratio_note = None
    if x1 == 0 or x2 == 0:
        empty = "both groups" if x1 == x2 == 0 else ("members" if x1 == 0 else "the control group")
        ratio_note = f"no interval for the ratio: {empty} had no conversions"
    rpu1, rpu2 = members.revenue / n1, control.revenue / n2
    welch = welch_difference(rpu1, members.revenue_variance, n1, rpu2, control.revenue_variance, n2, confidence)
    return Lift(
        status=LiftStatus.READY,
        reason=None,
        confidence=confidence,
        members=members,
        control=control,
        rate_difference=x1 / n1 - x2 / n2,
        rate_difference_interval=newcombe_difference(x1, n1, x2, n2, confidence),
        rate_ratio=rate_ratio,
        rate_ratio_interval=katz_ratio(x1, n1, x2, n2, confidence),
        ratio_note=ratio_note,
        revenue_per_user_difference=rpu1 - rpu2,
        revenue_per_user_difference_interval=welch.interval if welch else None,
        revenue_per_user_ratio=rpu1 / rpu2 if rpu2 else None,
    )


def measure_lift(
    outcomes: Iterable[UserOutcome],
    *,
    window: timedelta,
    as_of: datetime,
    confidence: float = 0.95,
    min_users_per_group: int = MIN_USERS_PER_GROUP,
) -> Lift:
    """Summarise both groups from plain per-user data and compare them."""
    users = list(outcomes)
    members = summarise(Group.MEMBERS, users, window=window, as_of=as_of)
    control = summarise(Group.CONTROL, users, window=window, as_of=as_of)
    return compare(members, control, confidence=confidence, min_users_per_group=min_users_per_group)

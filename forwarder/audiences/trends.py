"""Trends by day, ISO week or month, and the Sent > Converted funnel, from the same per-user data as lift.

Descriptive figures, so unlike lift they include users whose window is still open: a trend is "what happened",
lift is "what it caused". Periods are calendar periods in `tz` (the advertiser's time zone, UTC by default).
A user counts as started in the period their window opened, as converted in the period of their first conversion
in the window, and each conversion's revenue in the period it happened.
"""

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from forwarder.audiences.outcomes import Group, UserOutcome


class Period(StrEnum):
    """How a trend is bucketed."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_label(at: datetime, period: Period, tz: tzinfo = UTC) -> str:
    """The calendar bucket of a time: 2026-12-01, 2026-W49 (ISO week) or 2026-12."""
    local = at.astimezone(tz)
    if period is Period.DAY:
        return local.date().isoformat()
    if period is Period.WEEK:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


@dataclass
class TrendPoint:
    """One group in one period."""

    period: str
    group: Group
    started: int = 0
    converted: int = 0
    conversions: int = 0
    revenue: float = 0.0


def trend(outcomes: Iterable[UserOutcome], *, period: Period, window: timedelta, tz: tzinfo = UTC) -> list[TrendPoint]:
    """Per period and group, in period order and members before control; only periods with activity appear."""
    points: dict[tuple[str, Group], TrendPoint] = {}
    revenues: defaultdict[tuple[str, Group], list[float]] = defaultdict(list)

    def point(at: datetime, group: Group) -> TrendPoint:
        label = period_label(at, period, tz)
        return points.setdefault((label, group), TrendPoint(label, group))

    for outcome in outcomes:
        point(outcome.started_at, outcome.group).started += 1
        counted = sorted(outcome.in_window(window), key=lambda conversion: conversion.at)
        if counted:
            point(counted[0].at, outcome.group).converted += 1
        for conversion in counted:
            point(conversion.at, outcome.group).conversions += 1
            revenues[(period_label(conversion.at, period, tz), outcome.group)].append(conversion.revenue)
    for key, values in revenues.items():
        points[key].revenue = math.fsum(values)
    order = list(Group)
    return sorted(points.values(), key=lambda p: (p.period, order.index(p.group)))


@dataclass(frozen=True)
class Funnel:
    """Sent > Converted for members, Held out > Converted for the control group, to date."""

    sent: int
    converted: int
    held_out: int
    held_out_converted: int

    @property
    def conversion_rate(self) -> float | None:
        """Share of sent members who converted so far."""
        return self.converted / self.sent if self.sent else None


def funnel(outcomes: Iterable[UserOutcome], *, window: timedelta) -> Funnel:
    """Count each group and its users with a conversion in their window so far."""
    counts = {group: [0, 0] for group in Group}
    for outcome in outcomes:
        counts[outcome.group][0] += 1
        counts[outcome.group][1] += bool(outcome.in_window(window))
    (sent, converted), (held_out, held_out_converted) = counts[Group.MEMBERS], counts[Group.CONTROL]
    return Funnel(sent, converted, held_out, held_out_converted)

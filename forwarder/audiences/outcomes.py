"""What each user did after joining their group, summed per group within the goal window.

A member's window opens when they were synced to TikTok; a control user's when they qualified (they are never
synced). Conversions count from the opening, inclusive, to `opening + window`, exclusive. A user whose window is
still open at `as_of` is left out of rates and counted as `in_window`: they have not had the full window to convert,
and counting them would drag down whichever group joined more recently. Revenue is in one currency; convert first.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Group(StrEnum):
    """Which side of the comparison a user is on."""

    MEMBERS = "members"
    CONTROL = "control"


@dataclass(frozen=True)
class Conversion:
    """One goal event (e.g. PURCHASE) and its value."""

    at: datetime
    revenue: float = 0.0


@dataclass(frozen=True)
class UserOutcome:
    """One user: their group, when their window opened, and every goal event we saw from them."""

    group: Group
    started_at: datetime
    conversions: tuple[Conversion, ...] = ()

    def __post_init__(self) -> None:
        times = [self.started_at, *(conversion.at for conversion in self.conversions)]
        if any(time.tzinfo is None for time in times):
            raise ValueError("times must be timezone-aware")

    def in_window(self, window: timedelta) -> tuple[Conversion, ...]:
        """The conversions that count: from the opening, inclusive, to the end of the window, exclusive."""
        end = self.started_at + window
        return tuple(c for c in self.conversions if self.started_at <= c.at < end)

    def has_matured(self, window: timedelta, as_of: datetime) -> bool:
        """Whether the user's whole window lies before `as_of`."""
        return self.started_at + window <= as_of


@dataclass(frozen=True)
class GroupSummary:
    """One group's matured users, converters and revenue; rates are None for an empty group."""

    group: Group
    users: int
    converted: int
    conversions: int
    revenue: float
    revenue_variance: float
    in_window: int

    @property
    def conversion_rate(self) -> float | None:
        """Share of matured users with at least one conversion in their window."""
        return self.converted / self.users if self.users else None

    @property
    def revenue_per_user(self) -> float | None:
        """Revenue in the window divided by every matured user, converted or not."""
        return self.revenue / self.users if self.users else None


def summarise(group: Group, outcomes: Iterable[UserOutcome], *, window: timedelta, as_of: datetime) -> GroupSummary:
    """Sum one group's outcomes; users whose window is still open are only counted as `in_window`."""
    revenues: list[float] = []
    converted = conversions = in_window = 0
    for outcome in outcomes:
        if outcome.group is not group:
            continue
        if not outcome.has_matured(window, as_of):
            in_window += 1
            continue
        counted = outcome.in_window(window)
        converted += bool(counted)
        conversions += len(counted)
        revenues.append(math.fsum(c.revenue for c in counted))
    return GroupSummary(
        group=group,
        users=len(revenues),
        converted=converted,
        conversions=conversions,
        revenue=math.fsum(revenues),
        revenue_variance=_sample_variance(revenues),
        in_window=in_window,
    )


def _sample_variance(values: list[float]) -> float:
    # statistics.variance on 100,000 floats is exact but slow (it uses Fractions); two-pass fsum is enough here.
    if len(values) < 2:
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1)

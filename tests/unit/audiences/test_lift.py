"""Conversions and lift from per-user data (forwarder/audiences/outcomes.py, forwarder/audiences/lift.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from forwarder.audiences.lift import LiftStatus, measure_lift
from forwarder.audiences.outcomes import Conversion, Group, UserOutcome, summarise

WINDOW = timedelta(days=7)
START = datetime(2026, 11, 1, 12, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)  # every START user's window has closed


def users(group: Group, n: int, converted: int, revenue: float = 10.0) -> list[UserOutcome]:
    """n users of a group; the first `converted` buy once, a day after their window opens."""
    bought = (Conversion(START + timedelta(days=1), revenue),)
    return [UserOutcome(group, START, bought if i < converted else ()) for i in range(n)]


def test_window_counts_from_the_opening_inclusive_to_the_end_exclusive() -> None:
    """Before the opening and at opening + window do not count; at the opening does."""
    user = UserOutcome(
        Group.MEMBERS,
        START,
        (
            Conversion(START - timedelta(seconds=1), 1.0),
            Conversion(START, 2.0),
            Conversion(START + WINDOW - timedelta(seconds=1), 4.0),
            Conversion(START + WINDOW, 8.0),
        ),
    )
    summary = summarise(Group.MEMBERS, [user], window=WINDOW, as_of=AS_OF)
    assert (summary.users, summary.converted, summary.conversions, summary.revenue) == (1, 1, 2, 6.0)


def test_users_still_in_their_window_are_counted_apart() -> None:
    """A user synced yesterday has not had 7 days to convert: in_window, not in the rate."""
    recent = UserOutcome(Group.MEMBERS, AS_OF - timedelta(days=1), (Conversion(AS_OF - timedelta(hours=1), 5.0),))
    summary = summarise(Group.MEMBERS, [*users(Group.MEMBERS, 4, 1), recent], window=WINDOW, as_of=AS_OF)
    assert (summary.users, summary.converted, summary.in_window) == (4, 1, 1)
    assert summary.conversion_rate == 0.25
    assert summary.revenue_per_user == 2.5


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        UserOutcome(Group.CONTROL, datetime(2026, 11, 1))


def test_lift_by_hand() -> None:
    """Members 50/200 converted at 10 each, control 15/100 at 10 each.
    Rates 0.25 and 0.15; difference 0.10 with Newcombe: Wilson(50/200) = 0.195082..0.314341,
    Wilson(15/100) = 0.093060..0.232836; low = 0.10 - sqrt((0.25-0.195082)² + (0.232836-0.15)²) = 0.000613,
    high = 0.10 + sqrt((0.314341-0.25)² + (0.15-0.093060)²) = 0.185918.
    Ratio 0.25/0.15 = 1.666667, Katz se = sqrt(1/50 - 1/200 + 1/15 - 1/100) = 0.267706, interval
    1.666667 * exp(-/+ 1.959964 * 0.267706) = 0.986227..2.816571.
    Revenue per user 2.5 and 1.5; variances (50*7.5² + 150*2.5²)/199 = 18.844221 and (15*8.5² + 85*1.5²)/99 =
    12.878788; se = sqrt(18.844221/200 + 12.878788/100) = 0.472238, Welch df = 234.42, t = 1.970135,
    1.0 -/+ 1.970135 * 0.472238 = 0.069627..1.930373."""
    lift = measure_lift([*users(Group.MEMBERS, 200, 50), *users(Group.CONTROL, 100, 15)], window=WINDOW, as_of=AS_OF)
    assert lift.status is LiftStatus.READY
    assert (lift.members.revenue, lift.control.revenue) == (500.0, 150.0)
    assert lift.rate_difference == pytest.approx(0.10)
    assert lift.rate_difference_interval is not None
    assert lift.rate_difference_interval.low == pytest.approx(0.000613, abs=1e-6)
    assert lift.rate_difference_interval.high == pytest.approx(0.185918, abs=1e-6)
    assert lift.rate_ratio == pytest.approx(1.666667, abs=1e-6)
    assert lift.rate_ratio_interval is not None
    assert lift.rate_ratio_interval.low == pytest.approx(0.986227, abs=1e-6)
    assert lift.rate_ratio_interval.high == pytest.approx(2.816571, abs=1e-6)
    assert lift.members.revenue_variance == pytest.approx(18.844221, abs=1e-6)
    assert lift.control.revenue_variance == pytest.approx(12.878788, abs=1e-6)
    assert lift.revenue_per_user_difference == pytest.approx(1.0)
    assert lift.revenue_per_user_difference_interval is not None
    assert lift.revenue_per_user_difference_interval.low == pytest.approx(0.069627, abs=1e-6)
    assert lift.revenue_per_user_difference_interval.high == pytest.approx(1.930373, abs=1e-6)
    assert lift.revenue_per_user_ratio == pytest.approx(2500 / 1500)


def test_members_with_zero_conversions() -> None:
    """Members 0/120, control 6/100: difference -0.06 with Newcombe; Wilson(0/120) = 0..0.031019 and
    Wilson(6/100) = 0.027786..0.124768, so low = -0.06 - sqrt(0² + (0.124768-0.06)²) = -0.124768 and
    high = -0.06 + sqrt(0.031019² + (0.06-0.027786)²) = -0.015280. Ratio 0, its interval None (log of 0)."""
    lift = measure_lift([*users(Group.MEMBERS, 120, 0), *users(Group.CONTROL, 100, 6)], window=WINDOW, as_of=AS_OF)
    assert lift.status is LiftStatus.READY
    assert lift.rate_difference == pytest.approx(-0.06)
    assert lift.rate_difference_interval is not None
    assert lift.rate_difference_interval.low == pytest.approx(-0.124768, abs=1e-6)
    assert lift.rate_difference_interval.high == pytest.approx(-0.015280, abs=1e-6)
    assert lift.rate_ratio == 0.0
    assert lift.rate_ratio_interval is None
    assert lift.ratio_note == "no interval for the ratio: members had no conversions"


def test_control_with_zero_conversions_has_no_ratio() -> None:
    lift = measure_lift([*users(Group.MEMBERS, 100, 5), *users(Group.CONTROL, 100, 0)], window=WINDOW, as_of=AS_OF)
    assert lift.rate_ratio is None
    assert lift.rate_ratio_interval is None
    assert lift.revenue_per_user_ratio is None
    assert lift.ratio_note == "no interval for the ratio: the control group had no conversions"
    assert lift.rate_difference_interval is not None


def test_no_conversions_anywhere_still_bounds_the_difference() -> None:
    """0/100 against 0/100: difference 0, Newcombe -/+ Wilson upper(0/100) = z²/(100+z²) = 0.036994; no revenue
    spread, so no Welch interval."""
    lift = measure_lift([*users(Group.MEMBERS, 100, 0), *users(Group.CONTROL, 100, 0)], window=WINDOW, as_of=AS_OF)
    assert lift.rate_difference_interval is not None
    assert lift.rate_difference_interval.high == pytest.approx(0.036994, abs=1e-6)
    assert lift.rate_difference_interval.low == pytest.approx(-0.036994, abs=1e-6)
    assert lift.ratio_note == "no interval for the ratio: both groups had no conversions"
    assert lift.revenue_per_user_difference_interval is None


def test_too_small_a_sample_is_not_enough_data_yet() -> None:
    """99 control users with a window behind them is below the stated 100: counts, but no comparison."""
    lift = measure_lift([*users(Group.MEMBERS, 500, 50), *users(Group.CONTROL, 99, 5)], window=WINDOW, as_of=AS_OF)
    assert lift.status is LiftStatus.NOT_ENOUGH_DATA
    assert lift.reason == (
        "not enough data yet: 500 members and 99 control users have finished their window; 100 of each are needed"
    )
    assert (lift.members.converted, lift.control.converted) == (50, 5)
    assert lift.rate_difference is None
    assert lift.rate_difference_interval is None


def test_users_still_in_window_do_not_count_towards_the_sample() -> None:
    """150 control users synced an hour ago cannot make up for the 50 whose window has closed."""
    fresh = [UserOutcome(Group.CONTROL, AS_OF - timedelta(hours=1)) for _ in range(150)]
    lift = measure_lift(
        [*users(Group.MEMBERS, 200, 10), *users(Group.CONTROL, 50, 2), *fresh], window=WINDOW, as_of=AS_OF
    )
    assert lift.status is LiftStatus.NOT_ENOUGH_DATA
    assert lift.control.in_window == 150


def test_equal_groups_show_no_lift() -> None:
    """Identical groups: difference 0 inside a symmetric interval, ratio 1 inside its interval."""
    lift = measure_lift([*users(Group.MEMBERS, 300, 30), *users(Group.CONTROL, 300, 30)], window=WINDOW, as_of=AS_OF)
    assert lift.rate_difference == 0.0
    assert lift.rate_difference_interval is not None
    assert lift.rate_difference_interval.low == pytest.approx(-lift.rate_difference_interval.high)
    assert lift.rate_ratio == 1.0
    assert lift.rate_ratio_interval is not None
    assert not lift.rate_ratio_interval.excludes(1.0)
    assert lift.revenue_per_user_difference == 0.0
    assert lift.revenue_per_user_difference_interval is not None
    assert not lift.revenue_per_user_difference_interval.excludes(0.0)

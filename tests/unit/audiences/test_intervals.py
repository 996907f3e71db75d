"""Confidence intervals (forwarder/audiences/intervals.py) against published and hand-computed figures."""

import pytest

from forwarder.audiences.intervals import (
    Interval,
    katz_ratio,
    newcombe_difference,
    t_quantile,
    welch_difference,
    wilson,
    z_quantile,
)


def close(interval: Interval | None, low: float, high: float, tolerance: float = 5e-5) -> bool:
    assert interval is not None
    return interval.low == pytest.approx(low, abs=tolerance) and interval.high == pytest.approx(high, abs=tolerance)


def test_z_for_95_percent() -> None:
    assert z_quantile(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(("df", "table"), [(10, 2.228), (30, 2.042), (88, 1.987), (100, 1.984)])
def test_t_quantile_matches_the_printed_table(df: int, table: float) -> None:
    """Two-sided 95% t values as printed in the NIST/SEMATECH e-Handbook table 1.3.6.7.2 (upper 0.025)."""
    assert t_quantile(0.95, df) == pytest.approx(table, abs=1e-3)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_1998_single_proportion_table(successes: int, n: int, low: float, high: float) -> None:
    """Newcombe RG (1998) Two-sided confidence intervals for the single proportion, Stat Med 17:857-872, method 3."""
    assert close(wilson(successes, n), low, high)


def test_wilson_by_hand() -> None:
    """20/100: centre = (20 + z²/2) / (100 + z²) = 21.9208 / 103.8415 = 0.211099;
    half = z / (100 + z²) * sqrt(20 * 80 / 100 + z²/4) = 0.0188746 * 4.11919 = 0.0777472."""
    assert close(wilson(20, 100), 0.133367, 0.288829, tolerance=1e-6)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
    ],
)
def test_newcombe_matches_the_published_worked_examples(
    x1: int, n1: int, x2: int, n2: int, low: float, high: float
) -> None:
    """Newcombe RG (1998) Interval estimation for the difference between independent proportions: comparison of
    eleven methods, Stat Med 17:873-890, Table II, method 10 (examples a, b, d, e; d and e have zero counts)."""
    assert close(newcombe_difference(x1, n1, x2, n2), low, high)


def test_newcombe_is_symmetric_for_equal_groups() -> None:
    """Equal groups: the difference is 0 and the interval symmetric around it."""
    interval = newcombe_difference(20, 100, 20, 100)
    assert interval.low == pytest.approx(-interval.high)
    assert not interval.excludes(0.0)


def test_katz_by_hand() -> None:
    """30/100 against 20/100: ratio 1.5; se(log) = sqrt(1/30 - 1/100 + 1/20 - 1/100) = 0.2516611;
    1.5 * exp(-/+ 1.959964 * 0.2516611) = 0.915961 .. 2.456437."""
    assert close(katz_ratio(30, 100, 20, 100), 0.915961, 2.456437, tolerance=1e-6)


@pytest.mark.parametrize(("x1", "x2"), [(0, 20), (20, 0), (0, 0)])
def test_katz_is_undefined_with_zero_conversions(x1: int, x2: int) -> None:
    """log(0) has no interval: None rather than a made-up continuity correction."""
    assert katz_ratio(x1, 100, x2, 100) is None


def test_welch_by_hand() -> None:
    """Means 12 and 10, variances 100 and 64, n 50 and 40: se = sqrt(100/50 + 64/40) = sqrt(3.6) = 1.897367;
    df = 3.6² / ((2²)/49 + (1.6²)/39) = 87.9994; t(0.975, 88) = 1.98729; 2 -/+ 1.98729 * 1.897367."""
    result = welch_difference(12, 100, 50, 10, 64, 40)
    assert result is not None
    assert result.standard_error == pytest.approx(1.897367, abs=1e-6)
    assert result.df == pytest.approx(87.9994, abs=1e-4)
    assert close(result.interval, -1.77062, 5.77062, tolerance=1e-4)


def test_welch_needs_two_users_each_and_some_spread() -> None:
    assert welch_difference(1, 1, 1, 1, 1, 5) is None
    assert welch_difference(0, 0, 10, 0, 0, 10) is None


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson(5, 4)

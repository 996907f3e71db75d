"""The performance document's arithmetic, pinned against hand-computed figures (Newcombe 1998's worked example for
the difference, the Katz interval worked by hand), a group with no conversions, and a too-small sample."""

from __future__ import annotations

import time

import pytest

from forwarder.audiences.performance import as_csv, document

NOW = time.time()
DAY = 86400.0
START = NOW - 30 * DAY  # every window (14 days) has ended


def rows(members: tuple[int, int], control: tuple[int, int], revenue: float = 10.0):
    """(users, converted) per group; each converter buys once for `revenue`, a day after their window opened."""
    groups, conversions = [], []
    for group, (users, converted) in (("members", members), ("control", control)):
        for n in range(users):
            key = f"{group}-{n}"
            groups.append((key, group, START))
            if n < converted:
                conversions.append((key, START + DAY, revenue))
    return groups, conversions


def test_lift_matches_hand_computed_figures() -> None:
    groups, conversions = rows((70, 56), (80, 48))
    doc = document("buyers", "PURCHASE", 14, groups, conversions, NOW, min_users=50)
    assert doc["status"] == "ready" and doc["reason"] is None
    assert (doc["members"]["users"], doc["members"]["converted"], doc["members"]["revenue"]) == (70, 56, 560.0)
    assert doc["members"]["conversion_rate"] == pytest.approx(0.8)
    assert doc["control"]["conversion_rate"] == pytest.approx(0.6)
    assert (doc["members"]["revenue_per_user"], doc["control"]["revenue_per_user"]) == (8.0, 6.0)
    diff = doc["rate_difference"]  # Newcombe (1998), table II, example (b): 56/70 - 48/80 = 0.2, 0.0524 to 0.3339
    assert diff["value"] == pytest.approx(0.2)
    assert (diff["low"], diff["high"]) == (pytest.approx(0.0524, abs=5e-4), pytest.approx(0.3339, abs=5e-4))
    ratio = doc["rate_ratio"]  # 0.8 / 0.6; ln CI: ln(4/3) +- 1.96 * sqrt(1/56 - 1/70 + 1/48 - 1/80) = 0.10911
    assert ratio["value"] == pytest.approx(4 / 3)
    assert (ratio["low"], ratio["high"]) == (pytest.approx(1.0766, abs=5e-4), pytest.approx(1.6513, abs=5e-4))
    assert doc["revenue_per_user_difference"]["value"] == pytest.approx(2.0)
    assert doc["revenue_per_user_ratio"] == pytest.approx(8 / 6)
    assert doc["funnel"] == {"sent": 70, "converted": 56, "held_out": 80, "held_out_converted": 48,
                             "conversion_rate": pytest.approx(0.8)}  # fmt: skip
    [day] = {p["period"] for p in doc["trends"]["day"] if p["converted"]}
    assert time.strftime("%Y-%m-%d", time.gmtime(START + DAY)) == day


def test_a_control_group_without_conversions_has_a_difference_and_no_ratio() -> None:
    groups, conversions = rows((120, 12), (110, 0))
    doc = document("buyers", "PURCHASE", 14, groups, conversions, NOW, min_users=100)
    assert doc["status"] == "ready"
    assert doc["rate_difference"]["value"] == pytest.approx(0.1)
    assert doc["rate_difference"]["low"] > 0  # Wilson-based: defined at zero conversions, and excludes 0 here
    assert doc["rate_ratio"] == {"value": None, "low": None, "high": None}
    assert doc["ratio_note"] == "no interval for the ratio: the control group had no conversions"
    assert doc["revenue_per_user_ratio"] is None


def test_too_small_a_sample_says_not_enough_data_yet() -> None:
    groups, conversions = rows((99, 50), (500, 10))
    doc = document("buyers", "PURCHASE", 14, groups, conversions, NOW, min_users=100)
    assert doc["status"] == "not_enough_data"
    assert doc["reason"].startswith("not enough data yet: 99 members and 500 control users")
    assert doc["rate_difference"]["value"] is None
    assert doc["members"]["converted"] == 50  # the counts are still given


def test_users_still_in_their_window_are_not_compared_yet() -> None:
    groups = [("m", "members", NOW - DAY), ("c", "control", NOW - 20 * DAY)]
    doc = document("buyers", "PURCHASE", 14, groups, [("m", NOW, 5.0)], NOW, min_users=2)
    assert (doc["members"]["users"], doc["members"]["in_window"], doc["control"]["users"]) == (0, 1, 1)
    assert doc["funnel"]["converted"] == 1  # the funnel is to date


def test_csv_has_each_group_then_the_trend_points() -> None:
    groups, conversions = rows((3, 1), (2, 0))
    lines = as_csv(document("buyers", "PURCHASE", 14, groups, conversions, NOW, min_users=2)).splitlines()
    assert lines[0] == "kind,period,group,users,converted,conversions,revenue"
    assert lines[1:3] == ["summary,,members,3,1,1,10.0", "summary,,control,2,0,0,0.0"]
    assert {line.split(",")[0] for line in lines[3:]} == {"day", "week", "month"}

"""Hold-out and target cap by keyed hash (forwarder/audiences/assignment.py)."""

import math
import random

import pytest

from forwarder.audiences.assignment import assign, cap_score, is_held_out, keyed_score

SECRET = b"test-secret"
USERS = [f"{i:064x}" for i in range(100_000)]  # stand-ins for SHA-256 hex identifiers
# HMAC-SHA256(b"k", b"holdout\x00trial_no_purchase_7d\x00" + b"a" * 64) starts e411b6ba6996f119;
# 0xe411b6ba6996f119 / 2**64 = 0.8908952908619445.
GOLDEN_SCORE = 0.8908952908619445


def binomial_bound(n: int, p: float, sigmas: float = 5.0) -> float:
    """Five standard deviations of a Binomial(n, p) count: a false failure about once in 1.7 million runs."""
    return sigmas * math.sqrt(n * p * (1 - p))


def test_score_is_pinned_so_it_survives_restarts_and_replicas() -> None:
    """The score is HMAC-SHA256 only: no process state, no hash() randomisation, same on every replica."""
    score = keyed_score(b"k", b"holdout", "trial_no_purchase_7d", "a" * 64)
    assert score == keyed_score(b"k", b"holdout", "trial_no_purchase_7d", "a" * 64)
    assert score == pytest.approx(GOLDEN_SCORE, abs=1e-15)


def test_score_depends_on_secret_audience_and_purpose() -> None:
    """Another secret, audience or purpose draws again; the rule text plays no part."""
    base = keyed_score(b"k", b"holdout", "aud", "u")
    assert base != keyed_score(b"other", b"holdout", "aud", "u")
    assert base != keyed_score(b"k", b"holdout", "aud2", "u")
    assert base != keyed_score(b"k", b"cap", "aud", "u")


@pytest.mark.parametrize("share", [0.01, 0.1, 0.5])
def test_held_out_share_within_binomial_bound(share: float) -> None:
    """On 100,000 users the control group's size is within 5 sigma of n * share."""
    held = sum(is_held_out(SECRET, "aud", user, share) for user in USERS)
    assert abs(held - len(USERS) * share) <= binomial_bound(len(USERS), share)


def test_raising_the_share_only_moves_members_into_control() -> None:
    """Groups are nested: everyone held out at 10% is still held out at 20%."""
    at_10 = {u for u in USERS[:20_000] if is_held_out(SECRET, "aud", u, 0.1)}
    at_20 = {u for u in USERS[:20_000] if is_held_out(SECRET, "aud", u, 0.2)}
    assert at_10 < at_20


def test_two_audiences_hold_out_independently() -> None:
    """Being held out of one audience says nothing about another: overlap is near n * p * p."""
    both = sum(is_held_out(SECRET, "a", u, 0.1) and is_held_out(SECRET, "b", u, 0.1) for u in USERS)
    assert abs(both - len(USERS) * 0.01) <= binomial_bound(len(USERS), 0.01)


def test_share_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="control_share"):
        is_held_out(SECRET, "aud", "u", 1.0)


def test_assignment_ignores_input_order() -> None:
    """Replicas that see users in different orders agree on every group."""
    users = USERS[:2_000]
    shuffled = random.Random(7).sample(users, len(users))
    assert assign(SECRET, "aud", users, control_share=0.1, cap=500) == assign(
        SECRET, "aud", shuffled, control_share=0.1, cap=500
    )


def test_cap_keeps_the_lowest_cap_scores() -> None:
    """The stated rule: of the users not held out, the `cap` lowest cap scores are members."""
    groups = assign(SECRET, "aud", USERS[:2_000], control_share=0.1, cap=300)
    assert len(groups.members) == 300
    assert max(cap_score(SECRET, "aud", u) for u in groups.members) < min(
        cap_score(SECRET, "aud", u) for u in groups.over_cap
    )
    assert groups.members | groups.control | groups.over_cap == set(USERS[:2_000])
    assert not groups.members & groups.control


def test_a_new_user_evicts_at_most_the_highest_scored_member() -> None:
    """Adding users one at a time, a member leaves only when a lower-scored user arrives, and only the highest."""
    current = assign(SECRET, "aud", [], control_share=0.1, cap=50)
    for count, user in enumerate(USERS[:1_000], start=1):
        after = assign(SECRET, "aud", USERS[:count], control_share=0.1, cap=50)
        evicted = current.members - after.members
        assert len(evicted) <= 1
        if evicted:
            assert after.members == (current.members - evicted) | {user}
            assert cap_score(SECRET, "aud", user) < cap_score(SECRET, "aud", next(iter(evicted)))
        current = after


def test_a_member_leaving_frees_the_seat_for_the_lowest_waiting_user() -> None:
    full = assign(SECRET, "aud", USERS[:500], control_share=0.1, cap=100)
    leaver = next(iter(full.members))
    after = assign(SECRET, "aud", set(USERS[:500]) - {leaver}, control_share=0.1, cap=100)
    promoted = after.members - full.members
    assert promoted == {min(full.over_cap, key=lambda u: cap_score(SECRET, "aud", u))}


def test_cap_members_are_a_random_sample_of_the_non_held_out() -> None:
    """The cap score ignores behaviour: capped members hold out of another audience at its share, as anyone."""
    groups = assign(SECRET, "aud", USERS, control_share=0.1, cap=20_000)
    elsewhere = sum(is_held_out(SECRET, "other", u, 0.5) for u in groups.members)
    assert abs(elsewhere - 10_000) <= binomial_bound(20_000, 0.5)


def test_without_a_cap_everyone_not_held_out_is_a_member() -> None:
    groups = assign(SECRET, "aud", USERS[:1_000], control_share=0.1)
    assert not groups.over_cap
    assert len(groups.members) + len(groups.control) == 1_000

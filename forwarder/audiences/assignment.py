"""Hold-out and target cap, decided by a keyed hash of the user so every replica and restart agrees.

Each user gets two independent scores in [0, 1): HMAC-SHA256(secret, purpose | audience | user) read as a 64-bit
fraction. The audience is its stable identity (the definition's name or id), not its rule text, so editing a rule
that keeps the audience keeps every assignment. `user_key` must be one stable hashed identifier per user: if a
user's key changes (a new email), their assignment is drawn again.

- Hold-out: a user is in the control group when their hold-out score is below `control_share`. Raising the share
  only moves members into control (and lowering it only the reverse): the groups are nested.
- Target cap: of the users not held out, the `cap` with the lowest cap score are members; the rest are over the
  cap. Membership is a function of who qualifies now, never of arrival order, so replicas agree. A member is only
  ever displaced by a newly qualifying user with a lower score, and then only the highest-scored member goes;
  as the cap fills, a fixed set of users (those with high scores) keeps waiting. Because the score is independent
  of behaviour, members under the cap stay a random sample of the non-held-out users, so lift against the
  control group is not biased by the cap (first come, first served would favour early qualifiers).
"""

from collections.abc import Iterable
from dataclasses import dataclass

# The score lives with the writer process, which applies live rules' hold-out at ingest (standard library only).
from forwarder.store.sqlite.writer.holdout import CAP as _CAP
from forwarder.store.sqlite.writer.holdout import HOLDOUT as _HOLDOUT
from forwarder.store.sqlite.writer.holdout import keyed_score

__all__ = ["Assignment", "assign", "cap_score", "is_held_out", "keyed_score"]


def is_held_out(secret: bytes, audience_key: str, user_key: str, control_share: float) -> bool:
    """Whether the user belongs to the audience's control group: never sent to TikTok, counted for lift."""
    if not 0.0 <= control_share < 1.0:
        raise ValueError(f"control_share must be in [0, 1), got {control_share}")
    return keyed_score(secret, _HOLDOUT, audience_key, user_key) < control_share


def cap_score(secret: bytes, audience_key: str, user_key: str) -> float:
    """The user's place in line for the target cap: lower scores win seats."""
    return keyed_score(secret, _CAP, audience_key, user_key)


@dataclass(frozen=True)
class Assignment:
    """Qualifying users split three ways: members (synced), control (held out), over the cap (neither)."""

    members: frozenset[str]
    control: frozenset[str]
    over_cap: frozenset[str]


def assign(
    secret: bytes,
    audience_key: str,
    qualifying: Iterable[str],
    *,
    control_share: float,
    cap: int | None = None,
) -> Assignment:
    """Split the users who qualify now; the result depends on the set, not on its order."""
    if cap is not None and cap < 0:
        raise ValueError(f"cap must be >= 0, got {cap}")
    users = set(qualifying)
    control = {user for user in users if is_held_out(secret, audience_key, user, control_share)}
    # Ties between scores are broken by the key itself, so the order is total.
    ranked = sorted(users - control, key=lambda user: (cap_score(secret, audience_key, user), user))
    seats = len(ranked) if cap is None else cap
    return Assignment(
        members=frozenset(ranked[:seats]),
        control=frozenset(control),
        over_cap=frozenset(ranked[seats:]),
    )

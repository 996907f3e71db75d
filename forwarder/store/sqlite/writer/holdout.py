"""The keyed score behind control groups and target caps (audiences/assignment.py), here because the writer
process, which applies live rules' hold-out at ingest, may use the standard library only.

HMAC-SHA256(key, purpose | audience | user) read as a 64-bit fraction in [0, 1): the same on every replica and
after every restart, independent of behaviour and of arrival order.
"""

import hashlib
import hmac

HOLDOUT = b"holdout"
CAP = b"cap"


def keyed_score(secret: bytes, purpose: bytes, audience_key: str, user_key: str) -> float:
    """The user's score in [0, 1) for one purpose and audience: the first 8 bytes of an HMAC-SHA256."""
    message = b"\x00".join((purpose, audience_key.encode(), user_key.encode()))
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def audience_secret(audience: str, holdout_key: str | None) -> bytes:
    """The HMAC key: the configured `holdout_key`, else one derived from the audience's name. The default is
    stable but not secret: someone who knows a user's hashed identifier and the name could tell their group."""
    return (holdout_key or f"forwarder-holdout:{audience}").encode()


def held_out(audience: str, holdout_key: str | None, share: float, user_key: str) -> bool:
    return share > 0 and keyed_score(audience_secret(audience, holdout_key), HOLDOUT, audience, user_key) < share

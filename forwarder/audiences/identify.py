"""A person named by raw identifiers (forget, explain) -> the hashed (type, hash) pairs the ledger knows them by,
hashed exactly as ingest hashes them."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import PayloadError
from ..tiktok.user import hash_email, hash_external_id, hash_phone
from .signals import hash_device_id

KINDS = ("email", "phone", "idfa", "gaid", "external_id")


def hashed_identifiers(values: Mapping[str, object], default_region: str) -> list[tuple[str, str]]:
    """PayloadError naming the field for an unknown key, a value that is not text, or none given."""
    unknown = sorted(set(values) - set(KINDS))
    if unknown:
        raise PayloadError(unknown[0], f"is not an identifier; give any of {', '.join(KINDS)}")
    pairs = []
    for kind in KINDS:
        value = values.get(kind)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 1000:
            raise PayloadError(kind, "must be a non-empty string (at most 1,000 characters)")
        if kind == "email":
            pairs.append((kind, hash_email(value)))
        elif kind == "phone":
            pairs.append((kind, hash_phone(value, default_region)))
        elif kind == "external_id":
            pairs.append((kind, hash_external_id(value)))
        else:
            pairs.append((kind, hash_device_id(value)))
    if not pairs:
        raise PayloadError("body", f"name the user by at least one of {', '.join(KINDS)}")
    return pairs

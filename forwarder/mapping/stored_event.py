"""The copy of an inbound event that mapping reads and the store keeps: no personal data in the clear.

Mapping rules read this copy, not the event as posted, so a rule cannot copy a raw email into a TikTok property,
and `forwarder mappings diff` replays exactly what the rules saw. What it keeps:

- `user`: the SHA-256 digests TikTok takes (email, phone, external_id, first_name, last_name, zip_code) and the
  click ids (ttclid, ttp). city, state, country and any other user field are dropped.
- `device`: the advertising ids, att_status, user_agent and locale. `ip` is dropped here: the TikTok body in the
  outbox carries it until delivery, as TikTok requires it unhashed. Other device fields are dropped.
- the other fields of our event format as posted (properties, app, page, ad, ...); unknown top-level fields are
  dropped, as a misspelt `usr` block would otherwise be kept raw.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..events import InboundEvent

_TOP_LEVEL = frozenset(InboundEvent.model_fields)
_HASHED_USER = ("email", "phone", "external_id", "first_name", "last_name", "zip_code")
_CLEAR_USER = ("ttclid", "ttp")
_DEVICE = ("idfa", "idfv", "gaid", "att_status", "user_agent", "locale")


def mapping_document(document: dict[str, Any], user: dict[str, Any], event_id: str) -> dict[str, Any]:
    """`document` (the event as posted) with `user` and `device` reduced to what we may keep; `user` is the
    hashed user block of `tiktok.user.hashed_user`."""
    kept = {key: value for key, value in document.items() if key in _TOP_LEVEL}
    kept["event_id"] = event_id
    posted_user = document.get("user")
    posted_user = posted_user if isinstance(posted_user, dict) else {}
    kept_user = {key: user[key] for key in _HASHED_USER if key in user}
    kept_user.update((key, posted_user[key]) for key in _CLEAR_USER if key in posted_user)
    kept["user"] = kept_user
    device = document.get("device")
    if isinstance(device, dict):
        kept["device"] = {key: device[key] for key in _DEVICE if key in device}
    return kept


def stored_document(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, default=str)

"""The streaming segment API: create/delete a partner audience, add/delete hashed ids (digest §1, §4, §7).

Enforced: `custom_audience_name` over 70 characters truncated to 67 + "..."; 400 audiences per advertiser;
mappings refused until `ready_after_s` after creation; `id_schema` from TikTok's enum without duplicates (any case);
each user aligned with it by position (`{}` where the user lacks that id); SHA-256/MD5 hex digests; at most
10,000 users per request; every `audience_ids` entry an existing audience of one of `advertiser_ids`; 50 requests
per second per token. Unknown codes: the digest names 40002 for a missing audience and 40100 for the rate limit.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .common import BASE, Refused, authenticate, json_body, ok, required_str, string_list
from .state import Audience, MarketingState

MAX_NAME = 70
MAX_USERS = 10_000
ID_TYPES = {
    "EMAIL_SHA256": 64,
    "PHONE_SHA256": 64,
    "IDFA_SHA256": 64,
    "AAID_SHA256": 64,
    "IDFA_MD5": 32,
    "AAID_MD5": 32,
}
_HEX = re.compile(r"[0-9a-fA-F]+")
MAPPING = BASE + "/segment/mapping/"


def truncated(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 3] + "..."


async def audience(state: MarketingState, request: Request) -> Response:
    body = await json_body(request)
    advertiser_id = required_str(body, "advertiser_id")
    authenticate(state, request, [advertiser_id], "audience")
    action = body.get("action", "create")
    if action == "delete":
        target = state.audiences.get(required_str(body, "delete_audience_id"))
        if target is None or target.deleted or target.advertiser_id != advertiser_id:
            raise Refused(40002, "delete_audience_id: the audience does not exist.")
        target.deleted = True
        return ok({"audience_id": target.audience_id})
    if action != "create":
        raise Refused(40002, "action: must be one of create, delete.")
    name = required_str(body, "custom_audience_name")
    live = [a for a in state.audiences.values() if a.advertiser_id == advertiser_id and not a.deleted]
    if len(live) >= state.max_audiences:
        raise Refused(40002, f"The advertiser already has {state.max_audiences} custom audiences.")
    now = state.clock()
    created = Audience(state.new_audience_id(), advertiser_id, truncated(name), now, now + state.ready_after_s)
    state.audiences[created.audience_id] = created
    return ok({"audience_id": created.audience_id})


def _schema(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Refused(40002, "id_schema: must be a non-empty list of id types.")
    schema = [v.upper() for v in value]
    for id_type in schema:
        if id_type not in ID_TYPES:
            raise Refused(40002, f"id_schema: {id_type} is not one of {', '.join(ID_TYPES)}.")
    if len(set(schema)) != len(schema):
        raise Refused(40002, "id_schema: id types must not repeat.")
    return schema


def _user(
    state: MarketingState, where: str, user: Any, schema: list[str], advertiser_ids: list[str]
) -> dict[str, set[str]]:
    """audience id -> the user's "ID_TYPE:hash" identifiers in it, or Refused naming the offending field."""
    if not isinstance(user, list) or len(user) != len(schema):
        raise Refused(40002, f"{where}: must hold one object per id_schema entry ({len(schema)}), in its order.")
    joined: dict[str, set[str]] = {}
    for position, (entry, id_type) in enumerate(zip(user, schema, strict=True)):
        if entry == {}:
            continue
        at = f"{where}.{position}"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise Refused(40002, f"{at}.id: Missing data for required field.")
        digest = entry["id"]
        if len(digest) != ID_TYPES[id_type] or not _HEX.fullmatch(digest):
            raise Refused(40002, f"{at}.id: not a {id_type} hex digest.")
        if digest != digest.lower():
            state.warn(MAPPING, f"{at}.id: upper-case hex; TikTok does not document the case, peers send lower")
        for audience_id in string_list(entry.get("audience_ids"), f"{at}.audience_ids"):
            found = state.audiences.get(audience_id)
            if found is None or found.deleted or found.advertiser_id not in advertiser_ids:
                raise Refused(40002, f"{at}.audience_ids: audience {audience_id} does not exist.")
            if state.clock() < found.ready_at:
                raise Refused(40002, f"Audience {audience_id} is not ready yet, please retry later.", status=400)
            joined.setdefault(audience_id, set()).add(f"{id_type}:{digest.lower()}")
    if not joined:
        state.warn(MAPPING, f"{where}: a user with no id at all; what TikTok does with it is unknown")
    return joined


async def mapping(state: MarketingState, request: Request) -> Response:
    body = await json_body(request)
    advertiser_ids = string_list(body.get("advertiser_ids"), "advertiser_ids")
    token = request.headers.get("access-token", "")
    authenticate(state, request, advertiser_ids, "audience")
    if state.is_over("segment", token, state.mapping_qps):
        raise Refused(40100, "Too many requests. App reaches the QPS limit of the segment API.")
    action = body.get("action", "add")
    if action not in ("add", "delete"):
        raise Refused(40002, "action: must be one of add, delete.")
    schema = _schema(body.get("id_schema"))
    batch = body.get("batch_data")
    if not isinstance(batch, list) or not batch:
        raise Refused(40002, "batch_data: must be a non-empty list of users.")
    if len(batch) > MAX_USERS:
        raise Refused(40002, f"batch_data: at most {MAX_USERS} users per request.")
    users = [_user(state, f"batch_data.{i}", user, schema, advertiser_ids) for i, user in enumerate(batch)]
    touched: dict[str, int] = {}
    for user in users:
        for audience_id, ids in user.items():
            found = state.audiences[audience_id]
            if action == "add":
                found.add(frozenset(ids))
            else:
                found.delete(frozenset(ids))
            touched[audience_id] = touched.get(audience_id, 0) + 1
    for audience_id, count in touched.items():
        state.audiences[audience_id].history.append(
            {"action": action, "users": count, "id_schema": schema, "at": state.clock()}
        )
    return ok({})


ROUTES = [
    (BASE + "/segment/audience/", audience, "POST"),
    (MAPPING, mapping, "POST"),
]

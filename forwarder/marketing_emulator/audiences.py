"""Reading audiences back: `/dmp/custom_audience/get/` and `/list/` (digest §1.1, §4, bububa `get.go`, `list.go`).

`cover_num` is the number of matched users; below `size_threshold` (1,000) TikTok hides the size: what the API
returns then is unknown, so the emulator answers 0 (as CleverTap shows it) and records a warning. A deleted or
unknown audience is answered 40002, as Airbyte reports for a resource that does not exist.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .common import BASE, Refused, authenticate, json_param, ok, required_str, string_list
from .state import Audience, MarketingState

GET = BASE + "/dmp/custom_audience/get/"


def _time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def details(state: MarketingState, audience: Audience) -> dict[str, Any]:
    size = len(audience.members)
    if 0 < size < state.size_threshold:
        state.warn(GET, f"audience {audience.audience_id}: {size} users, below {state.size_threshold}: answered 0")
        size = 0
    return {
        "audience_id": audience.audience_id,
        "name": audience.name,
        "audience_type": "Partner",
        "cover_num": size,
        "is_valid": state.clock() >= audience.ready_at,
        "is_expiring": False,
        "expired_time": None,
        "shared": False,
        "is_creator": True,
        "owner_id": audience.advertiser_id,
        "create_time": _time(audience.created_at),
    }


def _audiences_of(state: MarketingState, advertiser_id: str) -> list[Audience]:
    return [a for a in state.audiences.values() if a.advertiser_id == advertiser_id and not a.deleted]


async def get(state: MarketingState, request: Request) -> Response:
    advertiser_id = required_str(request.query_params, "advertiser_id")
    authenticate(state, request, [advertiser_id], "audience")
    ids = string_list(json_param(request, "custom_audience_ids"), "custom_audience_ids", most=100)
    found = []
    for audience_id in ids:
        audience = state.audiences.get(audience_id)
        if audience is None or audience.deleted or audience.advertiser_id != advertiser_id:
            raise Refused(40002, f"custom_audience_ids: audience {audience_id} does not exist.")
        history = [
            {
                "action": h["action"],
                "action_detail": f"{h['users']} users",
                "editor": "open_api",
                "msg": "",
                "opt_time": _time(h["at"]),
            }
            for h in audience.history
        ]
        found.append({"audience_details": details(state, audience), "audience_history": history})
    return ok({"list": found})


async def list_audiences(state: MarketingState, request: Request) -> Response:
    advertiser_id = required_str(request.query_params, "advertiser_id")
    authenticate(state, request, [advertiser_id], "audience")
    try:
        page = int(request.query_params.get("page", "1"))
        page_size = int(request.query_params.get("page_size", "10"))
    except ValueError:
        raise Refused(40002, "page and page_size must be integers.") from None
    if page < 1 or not 1 <= page_size <= 100:
        raise Refused(40002, "page must be >= 1 and page_size between 1 and 100.")
    audiences = _audiences_of(state, advertiser_id)
    shown = audiences[(page - 1) * page_size : page * page_size]
    total = len(audiences)
    page_info = {"page": page, "page_size": page_size, "total_number": total, "total_page": -(-total // page_size)}
    return ok({"list": [details(state, a) for a in shown], "page_info": page_info})


ROUTES = [
    (GET, get, "GET"),
    (BASE + "/dmp/custom_audience/list/", list_audiences, "GET"),
]

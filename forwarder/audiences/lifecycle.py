"""An audience's life at TikTok: created on first use (or adopted by name, or attached by id), never twice for one
definition, also across replicas; "audience not found" when someone deleted it; its size read back daily.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog

from ..marketing.client import MarketingClient, MarketingError
from ..settings_audiences import AudienceSettings
from ..store.audiences import AudienceLedger

log = structlog.get_logger(__name__)

CREATION_LEASE_S = 60.0
SIZE_THRESHOLD = 1000  # TikTok shows no size below this many matched users


def tiktok_name(name: str, audience: AudienceSettings) -> str:
    return audience.tiktok_name or name


async def ensure_audience(
    ledger: AudienceLedger,
    client: MarketingClient,
    token: str,
    name: str,
    audience: AudienceSettings,
    state: dict[str, Any] | None,
    owner: str,
    now: float,
) -> str | None:
    """The TikTok audience id to sync `name` into, creating it if this replica may; None: not now."""
    state = state or {}
    if audience.audience_id:
        if state.get("tiktok_id") != audience.audience_id:
            await ledger.save(name, _active(audience.audience_id, audience, now))
        return None if state.get("status") == "not_found" else audience.audience_id
    if state.get("tiktok_id") and state.get("status") != "not_found":
        return str(state["tiktok_id"])
    if state.get("status") == "not_found" and not audience.recreate_if_deleted:
        return None
    if not await ledger.begin_creation(name, owner, now, CREATION_LEASE_S):
        return None  # another replica is creating it, or it exists now: the next round reads it
    recreated = state.get("status") == "not_found"
    try:
        found = await _find_by_name(client, token, audience.advertiser_id, tiktok_name(name, audience))
        if found is None:
            body = {
                "advertiser_id": audience.advertiser_id,
                "action": "create",
                "custom_audience_name": tiktok_name(name, audience),
            }
            answer = await client.post("/segment/audience/", token, body)
            found = str(answer.data["audience_id"])
            log.info("audience.created", audience=name, tiktok_id=found, request_id=answer.request_id)
        else:
            log.info("audience.adopted", audience=name, tiktok_id=found)
    except MarketingError as error:
        await ledger.save(name, {"problem": _problem(error), "creating_until": None, "status": "error"})
        log.warning("audience.create_failed", audience=name, **error.describe())
        return None
    except (KeyError, TypeError):
        await ledger.save(name, {"status": "error", "creating_until": None})
        return None
    await ledger.save(name, _active(found, audience, now))
    if recreated:
        await ledger.reset_synced(name, now)
    return found


async def _find_by_name(client: MarketingClient, token: str, advertiser_id: str, name: str) -> str | None:
    """An audience of ours a crashed replica created before it could record the id: adopt it, don't make another."""
    for page in range(1, 5):  # 400 audiences at most per advertiser, 100 a page
        answer = await client.get(
            "/dmp/custom_audience/list/", token, {"advertiser_id": advertiser_id, "page": str(page), "page_size": "100"}
        )
        for item in answer.data.get("list") or []:
            if item.get("name") == name:
                return str(item["audience_id"])
        info = answer.data.get("page_info") or {}
        if page >= int(info.get("total_page") or 1):
            return None
    return None


def _active(tiktok_id: str, audience: AudienceSettings, now: float) -> dict[str, Any]:
    return {
        "tiktok_id": tiktok_id,
        "advertiser_id": audience.advertiser_id,
        "status": "active",
        "problem": None,
        "created_at": now,
        "creating_until": None,
    }


def _problem(error: MarketingError) -> str:
    return json.dumps(error.describe())


async def poll_size(
    ledger: AudienceLedger,
    client: MarketingClient,
    token: str,
    name: str,
    audience: AudienceSettings,
    state: dict[str, Any],
    now: float,
) -> None:
    """Read the audience's matched size; TikTok shows 0 below 1,000, which we say rather than show 0."""
    params = {"advertiser_id": audience.advertiser_id, "custom_audience_ids": [state["tiktok_id"]]}
    try:
        answer = await client.get("/dmp/custom_audience/get/", token, params)
        details = answer.data["list"][0]["audience_details"]
        size = int(details.get("cover_num") or 0)
    except MarketingError as error:
        if error.problem.name == "audience_not_found":
            await ledger.save(name, {"status": "not_found", "problem": _problem(error), "size_at": now})
        else:
            await ledger.save(name, {"size_note": "fetch_failed", "size_at": now})
        return
    except (KeyError, IndexError, TypeError, ValueError):
        await ledger.save(name, {"size_note": "fetch_failed", "size_at": now})
        return
    fields: dict[str, Any] = {"size_now": size, "size_at": now}
    fields["size_note"] = "below_threshold" if size < SIZE_THRESHOLD else None
    if state.get("size_first") is None:
        fields["size_first"] = size
    await ledger.save(name, fields)


def size_due(state: dict[str, Any], poll_h: float, now: float | None = None) -> bool:
    at = state.get("size_at")
    return at is None or (now or time.time()) - float(at) >= poll_h * 3600

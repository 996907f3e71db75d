"""The one request budget every Marketing API call of every replica shares (TikTok limits per app and token).

Kept in the store as a token bucket (as event destinations' rate limits are), under a name no destination can
take: `[destinations.NAME]` names are TOML keys of ours, and this one holds a colon.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..store import Store
from .client import Budget

BUCKET = "marketing:api"


def shared_budget(store: Store, requests_per_s: float, clock: Callable[[], float]) -> Budget:
    async def wait() -> None:
        while True:
            wait_s = await store.take_token(BUCKET, requests_per_s, max(1.0, requests_per_s), clock())
            if wait_s <= 0:
                return
            await asyncio.sleep(wait_s)

    return wait

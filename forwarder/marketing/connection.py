"""The Marketing API credential the service uses now, and the client that carries it.

A token given as a secret (`marketing.access_token`) is used as it is. (Connect TikTok, which obtains one by
TikTok's authorisation flow and keeps it in the store, extends `token()`.)
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ..settings import Settings
from ..store import Store
from .budget import shared_budget
from .client import MarketingClient


class Connection:
    """What audiences and reports ask for: a token and a client whose calls share the request budget."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self.settings, self.store, self.clock = settings.marketing, store, clock
        budget = shared_budget(store, self.settings.requests_per_s, clock)
        self.client = MarketingClient(http, self.settings.base_url, budget=budget, scrub=scrub)

    async def token(self) -> str | None:
        """The advertiser token to call with, or None when no credential is configured or connected."""
        secret = self.settings.access_token
        return secret.get_secret_value() if secret is not None else None

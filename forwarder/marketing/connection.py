"""The Marketing API credential the service uses now, the client that carries it, and its health.

The credential Connect TikTok obtained (kept in the store, so every worker and replica uses it) comes first, else
the token given as a secret (`marketing.access_token`). A probe checks it every `probe_interval_s` and whenever
the credential changed (another worker connected or disconnected), so pages and the API answer from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import replace

import httpx
import structlog

from ..errors import StoreUnavailable
from ..settings import Settings
from ..store import Store
from ..store.marketing import MarketingCredential
from .budget import shared_budget
from .client import MarketingClient
from .health import STATES, Health, probe

log = structlog.get_logger(__name__)
RETRY_UNREACHABLE_S = 30.0  # a probe that found TikTok unreachable is repeated sooner than the interval


class Connection:
    """What audiences and reports ask for: a token and a client whose calls share the request budget."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
        scrub: Callable[[str], str] | None = None,
        *,
        remember_secrets: Callable[[Iterable[str]], None] | None = None,
        on_state: Callable[[str, tuple[str, ...]], None] | None = None,
    ) -> None:
        self.settings, self.store, self.clock = settings.marketing, store, clock
        budget = shared_budget(store, self.settings.requests_per_s, clock)
        self.client = MarketingClient(http, self.settings.base_url, budget=budget, scrub=scrub)
        self._remember_secrets = remember_secrets or (lambda secrets: None)  # the log scrubber learns stored tokens
        self._remembered: set[str] = set()
        self._on_state = on_state or (lambda state, states: None)
        self.health: Health | None = None
        self._probing = asyncio.Lock()

    def _remember(self, secrets: Iterable[str]) -> None:
        new = {secret for secret in secrets if secret and secret not in self._remembered}
        if new:
            self._remembered |= new
            self._remember_secrets(new)

    async def credential(self) -> MarketingCredential | None:
        """The credential Connect TikTok stored, if any."""
        credential = await self.store.marketing_credential()
        if credential is not None:
            self._remember([credential.access_token, credential.refresh_token or ""])
        return credential

    async def token(self) -> str | None:
        """The advertiser token to call with, or None when no credential is configured or connected."""
        credential = await self.credential()
        if credential is not None:
            return credential.access_token
        secret = self.settings.access_token
        return secret.get_secret_value() if secret is not None else None

    async def advertisers(self) -> list[str]:
        """The advertisers to act for: marketing.advertiser_ids, else those the credential reaches."""
        if self.settings.advertiser_ids:
            return list(self.settings.advertiser_ids)
        credential = await self.credential()
        if credential is not None:
            return list(credential.advertiser_ids)
        return [a.advertiser_id for a in self.health.advertisers] if self.health else []

    async def connect(self, credential: MarketingCredential) -> Health:
        """Keep the credential TikTok granted (replacing any earlier one) and probe it."""
        self._remember([credential.access_token, credential.refresh_token or ""])
        await self.store.save_marketing_credential(credential)
        log.info("marketing.connected", advertisers=len(credential.advertiser_ids), scopes=list(credential.scopes))
        return await self.check()

    async def forget(self) -> MarketingCredential | None:
        """Delete the stored credential; the one forgotten (to revoke at TikTok), or None if there was none."""
        credential = await self.credential()
        if credential is not None and await self.store.delete_marketing_credential():
            log.info("marketing.disconnected")
            return credential
        return None

    async def check(self) -> Health:
        """Probe now; the result is kept for `current()` and sets the state gauge."""
        async with self._probing:
            health = await self._probe()
            previous, self.health = self.health, health
        self._on_state(health.state, STATES)
        if previous is None or previous.state != health.state:
            report = log.warning if health.is_bad() and health.source is not None else log.info
            report(
                "marketing.connection_state",
                state=health.state,
                source=health.source,
                advertisers=len(health.advertisers),
                tiktok_code=health.tiktok_code,
                request_id=health.request_id,
            )
        return health

    async def current(self) -> Health:
        """The latest probe's finding, probing again first if the credential changed since, or if TikTok was
        unreachable a while ago."""
        health = self.health
        if health is None:
            return await self.check()
        credential = await self.credential()
        source = "connect" if credential else "config" if self.settings.access_token else None
        changed = (source, credential.connected_at if credential else None) != (health.source, health.connected_at)
        stale = health.state == "unreachable" and self.clock() - health.checked_at >= RETRY_UNREACHABLE_S
        return await self.check() if changed or stale else health

    async def watch(self, stop: asyncio.Event) -> None:
        """Probe every `probe_interval_s` until `stop` (sooner after TikTok was unreachable)."""
        while not stop.is_set():
            try:
                health = await self.check()
                wait_s = self.settings.probe_interval_s
                if health.state == "unreachable":
                    wait_s = min(wait_s, RETRY_UNREACHABLE_S)
            except StoreUnavailable as error:  # the store may be away for a while: the probe outlives it
                log.warning("marketing.probe_failed", error=str(error))
                wait_s = RETRY_UNREACHABLE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)

    async def _probe(self) -> Health:
        now = self.clock()
        credential = await self.credential()
        if credential is not None:
            token = credential.access_token
            found = Health("connected", "connect", now, (), (), credential.connected_at, credential.access_expires_at)
            found = replace(found, scopes=credential.scopes)
            if credential.access_expires_at is not None and now >= credential.access_expires_at:
                return replace(found, state="expired")  # TikTok said when: no need to ask
        elif self.settings.access_token is not None:
            token, found = self.settings.access_token.get_secret_value(), Health("connected", "config", now)
        else:
            return Health("not_connected", None, now)
        ids = credential.advertiser_ids if credential else ()
        state, reached, missing, error = await probe(self.client, self.settings, token, ids)
        found = replace(found, state=state, advertisers=tuple(reached), missing=tuple(missing))
        if error is None:
            return found
        return replace(found, message=error.message, tiktok_code=error.code, request_id=error.request_id)

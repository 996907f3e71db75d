"""The report puller: today's figures every `today_refresh_s`, the trailing days (which TikTok restates) every
`trailing_refresh_s`, under a store lease so one replica pulls at a time; every pull logged in the store.

Refusals are TikTok's problems (marketing/problems.py): rate limits and TikTok failures back off and retry; a
refused credential pauses pulling and probes again later, as event destinations do; anything else waits for the
next scheduled pull. The last problem is kept for the views (`state()`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog

from ..marketing.client import MarketingError
from ..marketing.connection import Connection
from ..settings import Settings
from .pull import What, advertisers, pull_advertiser, reachable_advertisers

log = structlog.get_logger(__name__)
PAUSE_S = 900.0  # a refused credential is probed again after this long (or at once when it changes)
MAX_BACKOFF_S = 3600.0


class ReportPuller:
    def __init__(
        self, connection: Connection, settings: Callable[[], Settings], owner: str, clock: Callable[[], float]
    ) -> None:
        self.connection, self.settings, self.owner, self.clock = connection, settings, owner, clock
        self.due: dict[What, float] = {"trailing": 0.0, "today": 0.0}
        self.problem: dict[str, Any] | None = None
        self.failures = 0
        self.paused_token: str | None = None  # the token TikTok refused; a new one resumes at once
        self.paused_until = 0.0
        self.wake = asyncio.Event()

    def state(self) -> dict[str, Any]:
        """What the views show about the puller of this process."""
        paused = self.paused_until if self.paused_token is not None else None
        return {
            "owner": self.owner,
            "next_pulls": dict(self.due),
            "paused_until": paused,
            "problem": self.problem,
            "failures": self.failures,
        }

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                wait_s = await self.step()
            except Exception:  # a bug in one pass must not end reporting until a restart
                log.exception("reporting.pass_failed")
                wait_s = self.settings().reporting.retry_s
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
                try:
                    await asyncio.wait_for(asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED), wait_s)
                finally:
                    for waiter in waits:
                        waiter.cancel()

    async def step(self) -> float:
        """Pull what is due; the seconds until something may be due again."""
        settings = self.settings()
        reporting = settings.reporting
        if not reporting.enabled:
            return 60.0
        token = await self.connection.token()
        if token is None:
            return 30.0  # no credential yet: Connect TikTok or marketing.access_token
        if token == self.paused_token and self.clock() < self.paused_until:
            return self.paused_until - self.clock()
        now = self.clock()
        what: What | None = "trailing" if now >= self.due["trailing"] else "today" if now >= self.due["today"] else None
        if what is None:
            return max(1.0, min(self.due.values()) - now)
        store = self.connection.store
        if not await store.take_report_lease(self.owner, now, reporting.lease_s):
            return reporting.lease_s / 3  # another replica pulls
        try:
            await self._pull(settings, token, what)
        except MarketingError as error:
            return await self._refused(error, what, token, now)
        self.problem, self.failures, self.paused_token = None, 0, None
        self.due["today"] = now + reporting.today_refresh_s
        if what == "trailing":
            self.due["trailing"] = now + reporting.trailing_refresh_s
        return 1.0

    async def _pull(self, settings: Settings, token: str, what: What) -> None:
        client, marketing = self.connection.client, settings.marketing
        ids = list(marketing.advertiser_ids)
        if not ids and marketing.app_id and marketing.app_secret:
            ids = await reachable_advertisers(client, token, marketing.app_id, marketing.app_secret.get_secret_value())
        if not ids:
            log.warning("reporting.no_advertisers", fix="set marketing.advertiser_ids")
            return
        for advertiser in await advertisers(client, token, ids):
            # Renew the lease before each advertiser: a long pull must not let another replica start one too.
            await self.connection.store.take_report_lease(self.owner, self.clock(), settings.reporting.lease_s)
            await pull_advertiser(
                client, token, self.connection.store, advertiser, settings.reporting, what, self.clock
            )

    async def _refused(self, error: MarketingError, what: What, token: str, now: float) -> float:
        problem = error.problem
        self.problem, self.failures = error.describe(), self.failures + 1
        line = (now, None, None, None, what, 0, 0, error.request_id, problem.name, error.message[:500])
        with contextlib.suppress(Exception):
            await self.connection.store.log_report_pull(line)
        retry_s = self.settings().reporting.retry_s
        if problem.pauses:
            wait_s = PAUSE_S
            self.paused_token, self.paused_until = token, now + PAUSE_S
        elif problem.retry:
            wait_s = min(MAX_BACKOFF_S, retry_s * 2 ** min(self.failures - 1, 10))
        else:
            wait_s = self.settings().reporting.today_refresh_s
        self.due[what] = now + wait_s
        log.warning(
            "reporting.pull_refused",
            problem=problem.name,
            tiktok_code=error.code,
            request_id=error.request_id,
            retry_in_s=wait_s,
            fix=problem.fix,
        )
        return wait_s

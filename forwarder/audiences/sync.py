"""The sync loop: every `flush_interval_s` (or sooner when ingest wakes it), run the ledger's timers, then send
each audience's pending changes to TikTok's segment API, up to 10,000 users per request, one request per
(advertiser, action, id schema), within the request budget all replicas share.

What TikTok answers decides each claimed row: synced; retried with backoff until the retry horizon, then errored;
the audience "not found" (recreated only when configured); or, for credential and permission refusals, the
advertiser paused and tried again after a probe interval (the next request is the probe).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

import structlog

from ..marketing.client import MarketingClient, MarketingError
from ..settings import Settings
from ..settings_audiences import AudienceSettings
from ..settings_marketing import IDENTIFIERS
from ..store import Store
from ..store.audiences import MemberClaim, Settlement
from .lifecycle import ensure_audience, poll_size, size_due
from .past import run_due

log = structlog.get_logger(__name__)

NOT_READY_S = 10.0


class AudienceSync:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        client: MarketingClient,
        token: Callable[[], Any],
        owner: str,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.settings, self.client, self.token = store, settings, client, token
        self.owner, self.clock = owner, clock
        self.wake = asyncio.Event()
        self.rng = random.Random()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sync_once()
            except Exception:  # a bug or a store outage must not end the loop: logged, tried again next round
                log.exception("audiences.sync_failed")
            interval = self.settings().audience_sync.flush_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self.wake), interval)
            self.wake.clear()

    async def sync_once(self) -> int:
        """One round over every audience; how many users TikTok acknowledged."""
        settings = self.settings()
        if not settings.audiences:
            return 0
        ledger = self.store.audiences
        await ledger.timers(self.clock())
        await run_due(self.store, settings, self.clock())  # past-behaviour rules on their schedules
        if not settings.audience_sync.enabled:
            return 0
        token = await self.token()
        states = await ledger.states()
        if token is None:
            for name in settings.audiences:
                if (states.get(name) or {}).get("status") != "no_credential":
                    await ledger.save(name, {"status": "no_credential"})
            return 0
        synced = 0
        for name, audience in settings.audiences.items():
            state = states.get(name) or {}
            now = self.clock()
            if state.get("paused_until") and float(state["paused_until"]) > now:
                continue
            if state.get("status") == "no_credential":  # a credential came: back to what it was
                await ledger.save(name, {"status": "active" if state.get("tiktok_id") else None})
                state = {**state, "status": "active" if state.get("tiktok_id") else None}
            synced += await self._drain(name, audience, state, token, settings)
            state = (await ledger.states()).get(name) or {}
            if state.get("status") == "active" and size_due(state, settings.audience_sync.size_poll_h, now):
                await poll_size(ledger, self.client, token, name, audience, state, now)
        return synced

    async def _drain(
        self, name: str, audience: AudienceSettings, state: dict[str, Any], token: str, settings: Settings
    ) -> int:
        sync = settings.audience_sync
        synced = 0
        tiktok_id: str | None = None
        while True:
            now = self.clock()
            # A live audience's cap is kept here (first to enter, first sent); a past rule's run applies its own.
            cap = audience.max_members if audience.past is None else None
            claims = await self.store.audiences.claim(
                self.owner, name, sync.max_users_per_request, now, sync.lease_s, cap
            )
            if not claims:
                return synced
            if tiktok_id is None:  # created on first use: when there is someone to send
                ledger = self.store.audiences
                tiktok_id = await ensure_audience(ledger, self.client, token, name, audience, state, self.owner, now)
                if tiktok_id is None:
                    await ledger.settle(self.owner, name, _all(claims, "release", "in", now, None, None), now)
                    return synced
            for action, rows in (("add", [c for c in claims if c.state == "in"]),
                                 ("delete", [c for c in claims if c.state == "out"])):  # fmt: skip
                if rows:
                    done, go_on = await self._send(name, audience, tiktok_id, token, action, rows, settings)
                    synced += done
                    if not go_on:
                        return synced

    async def _send(
        self,
        name: str,
        audience: AudienceSettings,
        tiktok_id: str,
        token: str,
        action: str,
        rows: list[MemberClaim],
        settings: Settings,
    ) -> tuple[int, bool]:
        """One mapping request; (users acknowledged, whether to go on with this audience)."""
        types = [t for t in audience.identifiers]
        body = {
            "advertiser_ids": [audience.advertiser_id],
            "action": action,
            "id_schema": [IDENTIFIERS[t] for t in types],
            # Each user's ids aligned with id_schema, {} where the user has none of that type (as TikTok wants).
            "batch_data": [
                [{"id": row.ids[t], "audience_ids": [tiktok_id]} if t in row.ids else {} for t in types] for row in rows
            ],
        }
        sent = "in" if action == "add" else "out"
        try:
            answer = await self.client.post("/segment/mapping/", token, body)
        except MarketingError as error:
            return 0, await self._refused(name, audience, error, rows, sent, settings)
        await self.store.audiences.settle(
            self.owner,
            name,
            [Settlement(r.user_key, r.version, "synced", sent, 0.0, None, answer.request_id) for r in rows],
            self.clock(),
        )
        log.info("audience.synced", audience=name, action=action, users=len(rows), request_id=answer.request_id)
        if (await self.store.audiences.states()).get(name, {}).get("problem"):
            await self.store.audiences.save(name, {"problem": None, "paused_until": None, "status": "active"})
        return len(rows), True

    async def _refused(
        self,
        name: str,
        audience: AudienceSettings,
        error: MarketingError,
        rows: list[MemberClaim],
        sent: str,
        settings: Settings,
    ) -> bool:
        now = self.clock()
        problem = error.problem
        described = json.dumps(error.describe())
        log.warning("audience.sync_refused", audience=name, users=len(rows), **error.describe())
        ledger = self.store.audiences
        if problem.name == "audience_not_found":
            # Recreating forgets the old id, so one replica may create the new audience (begin_creation).
            forget_id = {"tiktok_id": None} if audience.recreate_if_deleted and not audience.audience_id else {}
            await ledger.save(name, {"status": "not_found", "problem": described, **forget_id})
            await ledger.settle(self.owner, name, _all(rows, "release", sent, now, None, None), now)
            return False
        if problem.pauses:
            for other, definition in settings.audiences.items():  # a credential refusal is the advertiser's
                if definition.advertiser_id == audience.advertiser_id:
                    await ledger.save(
                        other,
                        {
                            "status": "paused",
                            "problem": described,
                            "paused_until": now + settings.audience_sync.probe_after_s,
                        },
                    )
            await ledger.settle(self.owner, name, _all(rows, "release", sent, now, None, None), now)
            return False
        horizon = audience.retry_horizon_h * 3600
        settlements = []
        for row in rows:
            first = row.first_failure_at or now
            if problem.retry and now - first < horizon:
                delay = NOT_READY_S if problem.name == "audience_not_ready" else self._backoff(settings, row)
                settlements.append(Settlement(row.user_key, row.version, "retry", sent, now + delay, problem.name,
                                              error.request_id))  # fmt: skip
            else:
                settlements.append(Settlement(row.user_key, row.version, "errored", sent, now, problem.name,
                                              error.request_id))  # fmt: skip
        await ledger.settle(self.owner, name, settlements, now)
        await ledger.save(name, {"problem": described})
        return problem.name != "rate_limited"

    def _backoff(self, settings: Settings, row: MemberClaim) -> float:
        sync = settings.audience_sync
        failed_for = max(0.0, self.clock() - (row.first_failure_at or self.clock()))
        ceiling = min(sync.retry_cap_s, max(sync.retry_base_s, failed_for))  # doubling, as time passes
        return self.rng.uniform(sync.retry_base_s, max(sync.retry_base_s, ceiling))


def _all(
    rows: list[MemberClaim], outcome: str, sent: str, at: float, problem: str | None, request_id: str | None
) -> list[Settlement]:
    return [Settlement(r.user_key, r.version, outcome, sent, at, problem, request_id) for r in rows]


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

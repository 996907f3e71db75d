"""What the Marketing API emulator holds: apps, advertisers, tokens, audiences with their members, report knobs."""

from __future__ import annotations

import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The emulator's own names for TikTok's scopes; TikTok lists them as numeric ids in the portal (digest §6).
SCOPES = {"audience": 4, "reporting": 8, "ad_account": 1}


@dataclass
class Advertiser:
    advertiser_id: str
    name: str
    currency: str
    timezone: str


@dataclass
class Token:
    advertiser_ids: set[str]
    scopes: set[str] = field(default_factory=lambda: set(SCOPES))
    app_id: str = ""
    revoked: bool = False
    expires_at: float | None = None  # long-term unless `token_ttl_s` or `expire_tokens` says otherwise


@dataclass
class Audience:
    audience_id: str
    advertiser_id: str
    name: str
    created_at: float
    ready_at: float
    deleted: bool = False
    members: set[frozenset[str]] = field(default_factory=set)  # one set of "ID_TYPE:hash" per matched user
    index: dict[str, frozenset[str]] = field(default_factory=dict)  # identifier -> its member
    history: list[dict[str, Any]] = field(default_factory=list)

    def add(self, ids: frozenset[str]) -> None:
        """A user's identifiers join the audience; members sharing an identifier are one user, as TikTok matches."""
        merged = ids.union(*self.delete(ids))
        self.members.add(merged)
        self.index.update(dict.fromkeys(merged, merged))

    def delete(self, ids: frozenset[str]) -> list[frozenset[str]]:
        """Remove every member holding one of `ids`; returns them."""
        found = list({self.index[i] for i in ids if i in self.index})
        for member in found:
            self.members.discard(member)
            for i in member:
                del self.index[i]
        return found


def _advertisers() -> dict[str, Advertiser]:
    return {
        a.advertiser_id: a
        for a in (
            Advertiser("7002238017842757633", "Emulated Apps US", "USD", "America/Los_Angeles"),
            Advertiser("7002238017842757634", "Emulated Apps EU", "EUR", "Europe/Berlin"),
        )
    }


@dataclass
class MarketingState:
    """Everything the routes read and `/_control/*` changes; `clock` is injectable for readiness and reports."""

    clock: Callable[[], float] = time.time
    apps: dict[str, str] = field(default_factory=lambda: {"7000000000000000001": "emulator-secret"})
    advertisers: dict[str, Advertiser] = field(default_factory=_advertisers)
    tokens: dict[str, Token] = field(
        default_factory=lambda: {"emulator-token": Token({"7002238017842757633", "7002238017842757634"})}
    )
    auth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> {app_id, issued_at, used}
    audiences: dict[str, Audience] = field(default_factory=dict)
    ready_after_s: float = 60.0  # Segment's code comment: mappings accepted ~1-2 min after creation
    token_ttl_s: float = 0.0  # 0: advertiser tokens are long-term (digest §6); else answered with expires_in
    size_threshold: int = 1000
    max_audiences: int = 400
    mapping_qps: float = 50.0  # Braze quoting TikTok: 50 requests/s on the segment API
    rate_limit_per_s: float = 0.0  # per token, every route
    budgets: dict[str, int] = field(default_factory=dict)  # token -> requests left before 40100
    script: deque[dict[str, Any]] = field(default_factory=deque)
    restated: dict[tuple[str, str], float] = field(default_factory=dict)  # (advertiser, day) -> factor
    warnings: list[dict[str, Any]] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))  # path, answer, at
    answers: Counter[str] = field(default_factory=Counter)
    windows: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (limit, token) -> (s, n)
    next_id: int = 23856594064540489

    def warn(self, route: str, message: str) -> None:
        # Bounded: a demo that sends upper-case hex for hours must not grow the emulator without end.
        if len(self.warnings) < 1000 and {"route": route, "message": message} not in self.warnings[-50:]:
            self.warnings.append({"route": route, "message": message})

    def is_over(self, limit: str, token: str, per_s: float) -> bool:
        """One more request this second for this token; True when it goes beyond `per_s`."""
        if not per_s:
            return False
        second = int(self.clock())
        window, count = self.windows.get((limit, token), (second, 0))
        count = count + 1 if window == second else 1
        self.windows[(limit, token)] = (second, count)
        return count > per_s

    def new_audience_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def issue_auth_code(self, app_id: str) -> str:
        code = secrets.token_hex(16)
        self.auth_codes[code] = {"app_id": app_id, "issued_at": self.clock(), "used": False}
        return code

"""The interface between the delivery loop and what it delivers to (httpx `_transports/base.py` in spirit).

The loop claims outbox rows, asks the destination to group them into requests, takes a token of the destination's
rate limit per request, and records what `send` answers. It knows nothing of the far side: what a request looks
like, what an answer's codes mean and when a batch must be split are the destination's.

`send` answers in one of two ways:
- a list of verdicts, one per group of the request's rows: `Settled` (delivered, or dead with the outcome as the
  reason) or `SendAgain` (send these rows again at once in a request of their own; e.g. a batch split to find the
  event a destination refused);
- or a `DeliveryError` for the whole request (see `errors.py`): `RateLimited` backs off without counting an
  attempt, `RetryableError` retries at a backoff (`UnknownCodeError` only a few times), `DestinationRefused`
  pauses the destination and keeps its rows, `PermanentError` makes the rows dead letters.

The TikTok Events API (`tiktok/events_api.py`) is the first implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import Outcome
from ..store import Claimed, State


@dataclass(frozen=True)
class Settled:
    """Rows an answer settled: `state` is DELIVERED or FAILED (dead, `outcome.message` saying why)."""

    rows: list[Claimed]
    state: State
    outcome: Outcome


@dataclass(frozen=True)
class SendAgain:
    """Rows to send again at once in a request of their own; `outcome` joins their history."""

    rows: list[Claimed]
    outcome: Outcome


Verdict = Settled | SendAgain


class Destination(Protocol):
    """One configured destination, as the delivery loop drives it."""

    @property
    def name(self) -> str: ...

    @property
    def rate_limit_per_s(self) -> float: ...

    @property
    def concurrency(self) -> int:
        """How many delivery loops run for this destination."""
        ...

    def requests(self, rows: list[Claimed]) -> list[list[Claimed]]:
        """The claimed rows grouped into requests (rows that cannot share a request go apart)."""
        ...

    async def send(self, rows: list[Claimed]) -> list[Verdict]:
        """Send one request carrying `rows`; verdicts for them, or a DeliveryError for the whole request."""
        ...

    def is_rate_limited(self, outcome: Outcome) -> bool:
        """Whether an answer was the far side's rate limit (which never opens the circuit)."""
        ...

    def refusal(self, outcome: Outcome) -> tuple[str, str]:
        """The pause kind ("credentials", "configuration") and the reason for a `DestinationRefused` answer."""
        ...

    def describe(self) -> dict[str, Any]:
        """What it is, for stats and the status page: its kind and the non-secret settings that identify it."""
        ...

"""One Marketing API call: TikTok's envelope read, its refusals classed into the documented problems.

Success is HTTP 2xx and `code` 0; anything else raises `MarketingError` naming the problem (problems.py), with
the request_id when TikTok gave one. Every call first waits for the shared request budget (`budget`), which the
store keeps for all replicas, so audiences and reports together stay under TikTok's rate.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .problems import Problem, classify

Budget = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Answer:
    data: dict[str, Any]
    request_id: str | None


class MarketingError(Exception):
    def __init__(
        self, problem: Problem, message: str, *, code: int | None, request_id: str | None, http_status: int | None
    ) -> None:
        super().__init__(f"{problem.name}: {message}")
        self.problem, self.message, self.code = problem, message, code
        self.request_id, self.http_status = request_id, http_status

    def describe(self) -> dict[str, Any]:
        """For the API, the status page and the ledger: what happened, why, and what to do."""
        return {
            "problem": self.problem.name,
            "message": self.message,
            "cause": self.problem.cause,
            "fix": self.problem.fix,
            "tiktok_code": self.code,
            "request_id": self.request_id,
        }


async def _no_budget() -> None:
    return None


class MarketingClient:
    """Calls `{base_url}/open_api/v1.3{path}` with an access token over a shared httpx client."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        *,
        budget: Budget = _no_budget,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self._http, self._base = http, base_url.rstrip("/") + "/open_api/v1.3"
        self._budget, self._scrub = budget, scrub or (lambda text: text)

    async def get(self, path: str, token: str | None, params: dict[str, Any]) -> Answer:
        # TikTok's GET routes take lists and objects as JSON text in the query string.
        query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        return await self._call("GET", path, token, params=query)

    async def post(self, path: str, token: str | None, body: dict[str, Any]) -> Answer:
        return await self._call("POST", path, token, json=body)

    async def _call(self, method: str, path: str, token: str | None, **kwargs: Any) -> Answer:
        await self._budget()
        headers = {"Access-Token": token} if token else {}
        try:
            response = await self._http.request(method, self._base + path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            raise MarketingError(
                classify(None, message, None), self._scrub(message), code=None, request_id=None, http_status=None
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = body.get("code") if isinstance(body.get("code"), int) else None
        request_id = body.get("request_id") or response.headers.get("X-Tt-Logid")
        if response.is_success and code == 0:
            data = body.get("data")
            return Answer(data if isinstance(data, dict) else {}, request_id)
        message = self._scrub(str(body.get("message") or response.reason_phrase or f"HTTP {response.status_code}"))
        status = response.status_code
        raise MarketingError(
            classify(code, message, status), message[:1000], code=code, request_id=request_id, http_status=status
        )

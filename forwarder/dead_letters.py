"""Dead letters (events given up on) over the admin API; the CLI shares the filter parsing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .admin import require_admin
from .events import parse_timestamp
from .runtime import Runtime
from .store.base import DeadFilter

MAX_LIMIT = 100_000
FILTERS = ("destination", "since", "until", "tiktok_code", "event", "event_id")


def is_narrowed(where: DeadFilter) -> bool:
    """True when at least one filter picks which dead letters (a limit alone does not)."""
    return bool(where.conditions())


def dead_filter(values: Mapping[str, Any]) -> DeadFilter:
    """A DeadFilter from query parameters, a JSON body or CLI options; ValueError names the bad field."""
    unknown = set(values) - {*FILTERS, "limit"}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown filter")

    def time_of(name: str) -> float | None:
        if values.get(name) in (None, ""):
            return None
        try:
            return float(parse_timestamp(values[name]))
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None

    def integer(name: str, default: int | None) -> int | None:
        if values.get(name) in (None, ""):
            return default
        try:
            return int(values[name])
        except (TypeError, ValueError):
            raise ValueError(f"{name}: must be a whole number") from None

    limit = integer("limit", 1000)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: must be between 1 and {MAX_LIMIT}")
    return DeadFilter(
        destination=values.get("destination") or None,
        since=time_of("since"),
        until=time_of("until"),
        tiktok_code=integer("tiktok_code", None),
        event=values.get("event") or None,
        event_id=values.get("event_id") or None,
        limit=limit,
    )


def _bad_filter(error: ValueError) -> Response:
    field, _, message = str(error).partition(": ")
    return JSONResponse({"error": "invalid_filter", "field": field, "message": message}, status_code=400)


async def list_dead(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    try:
        where = dead_filter(dict(request.query_params))
    except ValueError as error:
        return _bad_filter(error)
    letters = await runtime.store.dead_letters(where)
    return JSONResponse({"count": len(letters), "dead_letters": letters})


async def replay_dead(request: Request) -> Response:
    """Body: filters as for the list, e.g. `{"event_id": "..."}`; no filter replays nothing unless `"all": true`."""
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    body = await request.body()
    try:
        values = json.loads(body) if body.strip() else {}
        if not isinstance(values, dict):
            raise ValueError("(body): must be a JSON object of filters")
        replay_all = values.pop("all", False)
        if not isinstance(replay_all, bool):
            raise ValueError("all: must be true or false")
        where = dead_filter(values)
        if not replay_all and not is_narrowed(where):
            raise ValueError(f'(body): name a filter ({", ".join(FILTERS)}) or send "all": true to replay every one')
    except json.JSONDecodeError:
        return JSONResponse({"error": "invalid_json", "message": "the body must be a JSON object"}, 400)
    except ValueError as error:
        return _bad_filter(error)
    replayed = await runtime.store.replay_dead(where, runtime.clock())
    runtime.wake_delivery({where.destination} if where.destination else None)
    return JSONResponse({"replayed": replayed})

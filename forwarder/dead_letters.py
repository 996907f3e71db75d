"""Dead letters (events given up on) over the admin API; the CLI shares the filter parsing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
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


MAX_TEXT = 256  # a destination or event name; longer ones name nothing that exists
_INT32 = 2**31 - 1  # tiktok_code is an `integer` column on PostgreSQL
_WHOLE = re.compile(r"-?[0-9]{1,20}")


def dead_filter(values: Mapping[str, Any]) -> DeadFilter:
    """A DeadFilter from query parameters, a JSON body or CLI options; ValueError names the bad field."""
    unknown = set(values) - {*FILTERS, "limit"}
    if unknown:
        raise ValueError(f"{_printable(sorted(unknown)[0])}: unknown filter")

    def time_of(name: str) -> float | None:
        if values.get(name) in (None, ""):
            return None
        try:
            return float(parse_timestamp(values[name]))
        except (ValueError, OverflowError) as error:
            raise ValueError(f"{name}: {error}") from None

    def integer(name: str, low: int, high: int) -> int | None:
        value = values.get(name)
        if value in (None, ""):
            return None
        # Whole numbers only, as JSON numbers or digits: no bools, no 1.5, no NaN, no 23-digit codes.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
            value = int(value)
        if type(value) is not int:
            raise ValueError(f"{name}: must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"{name}: must be between {low} and {high}")
        return value

    def text(name: str) -> str | None:
        value = values.get(name)
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise ValueError(f"{name}: must be a string")
        if len(value) > MAX_TEXT or "\x00" in value:
            raise ValueError(f"{name}: must be at most {MAX_TEXT} characters, without NUL")
        return value

    limit = integer("limit", 1, MAX_LIMIT)
    return DeadFilter(
        destination=text("destination"),
        since=time_of("since"),
        until=time_of("until"),
        tiktok_code=integer("tiktok_code", -_INT32, _INT32),
        event=text("event"),
        event_id=text("event_id"),
        limit=1000 if limit is None else limit,
    )


def _printable(name: str) -> str:
    """An unknown filter's name as an answer may repeat it: short, NUL spelled out."""
    return name[:64].replace("\x00", "\\u0000")


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
        # orjson, as on ingest: NaN, Infinity and 1e400 are not JSON numbers.
        values = orjson.loads(body) if body.strip() else {}
        if not isinstance(values, dict):
            raise ValueError("(body): must be a JSON object of filters")
        replay_all = values.pop("all", False)
        if not isinstance(replay_all, bool):
            raise ValueError("all: must be true or false")
        where = dead_filter(values)
        if not replay_all and not is_narrowed(where):
            raise ValueError(f'(body): name a filter ({", ".join(FILTERS)}) or send "all": true to replay every one')
    except orjson.JSONDecodeError as error:
        return JSONResponse(
            {"error": "invalid_json", "field": "(body)", "message": f"the body must be a JSON object: {error}"}, 400
        )
    except ValueError as error:
        return _bad_filter(error)
    replayed = await runtime.store.replay_dead(where, runtime.clock())
    runtime.wake_delivery({where.destination} if where.destination else None)
    return JSONResponse({"replayed": replayed})

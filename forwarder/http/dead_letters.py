"""Dead letters (events given up on) over the admin API: list and replay (filters: `dead_filters.py`)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..dead_filters import FILTERS, dead_filter, is_narrowed
from ..runtime import Runtime
from .admin import require_admin
from .requests import field_refusal


async def list_dead(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    if denied := require_admin(request, runtime):
        return denied
    try:
        where = dead_filter(dict(request.query_params))
    except ValueError as error:
        return field_refusal(error, "invalid_filter")
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
        return field_refusal(error, "invalid_filter")
    replayed = await runtime.store.replay_dead(where, runtime.clock())
    runtime.wake_delivery({where.destination} if where.destination else None)
    return JSONResponse({"replayed": replayed})

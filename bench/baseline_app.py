"""The ingest baseline: a bare Starlette endpoint that parses the JSON body and answers 202, storing nothing."""

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def events(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    count = len(body["events"]) if "events" in body else 1
    return JSONResponse({"accepted": count, "duplicates": 0, "rejected": []}, status_code=202)


app = Starlette(routes=[Route("/v1/events", events, methods=["POST"])])

"""The OpenAPI description of every route, the event schema derived from the model so it cannot drift from it."""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import __version__
from ..events import InboundEvent
from .openapi_audiences import performance_path
from .openapi_marketing import marketing_paths
from .openapi_postbacks import postback_body, postback_query
from .openapi_report import report_path
from .openapi_schemas import ANSWER, ERROR, OBJECT

_FILTERS = {
    "destination": ({"type": "string", "maxLength": 256}, "a destination name"),
    "since": ({"type": ["string", "integer"]}, "failed at or after: ISO 8601 or Unix s/ms/us"),
    "until": ({"type": ["string", "integer"]}, "failed before: ISO 8601 or Unix s/ms/us"),
    "tiktok_code": ({"type": "integer", "minimum": -(2**31 - 1), "maximum": 2**31 - 1}, "TikTok's answer code"),
    "event": ({"type": "string", "maxLength": 256}, "the TikTok event name"),
    "event_id": ({"type": "string", "maxLength": 256}, "one event"),
    "limit": ({"type": "integer", "minimum": 1, "maximum": 100_000, "default": 1000}, "at most this many"),
}


def _json(description: str, schema: dict[str, Any] = ERROR) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_INGEST_ERRORS = {
    "400": _json("not JSON, or not the expected object"),
    "401": _json("no valid key for this source, a key of another endpoint (`wrong_endpoint`), or a bad signature"),
    "403": _json("this address may not post for this source (allowed_ips)"),
    "408": _json("the body did not arrive within server.body_timeout_s"),
    "413": _json("body or batch too large"),
    "422": _json("no valid event in the request (each rejected event names its field)", ANSWER),
    "429": _json("this key's rate limit"),
    "503": _json("not accepting events now; retry after Retry-After"),
}
# With no admin_token the admin routes answer 403; /v1/stats and /metrics are then open.
_ADMIN_ERRORS = {"401": _json("no valid admin token"), "403": _json("admin endpoints are disabled (no admin_token)")}
# Admin POSTs change things: a browser's cached Basic credentials must not let another site's page send them.
_ADMIN_POST_ERRORS = {
    **_ADMIN_ERRORS,
    "403": _json("admin endpoints are disabled, or the request comes from another site's page (`Origin`)"),
    "415": _json("admin POSTs need `Content-Type: application/json`"),
}
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}, {"adminBasic": []}]


def _operation(summary: str, responses: dict[str, Any], security: list[Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": security, "responses": responses, **extra}


def _filter_parameters() -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
        for name, (schema, description) in _FILTERS.items()
    ]


@cache
def openapi_document() -> dict[str, Any]:
    event_schema = InboundEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = event_schema.pop("$defs", {})
    schemas["InboundEvent"] = event_schema
    schemas["EventBatch"] = {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/InboundEvent"}, "maxItems": 1000}
        },
        "required": ["events"],
    }
    schemas["PostbackPayload"] = postback_body()
    schemas["DeadFilter"] = {
        "type": "object",
        "properties": {name: schema for name, (schema, _) in _FILTERS.items()},
        "additionalProperties": False,
    }
    # A replay names a filter, or says it means every dead letter: `{}` is refused (400).
    schemas["ReplayFilter"] = {
        "type": "object",
        "properties": {
            **{name: schema for name, (schema, _) in _FILTERS.items()},
            "all": {"type": "boolean", "description": "replay every dead letter (needed when no filter is named)"},
        },
        "additionalProperties": False,
    }
    postback_key: list[dict[str, list[str]]] = [{"postbackKey": []}, {"postbackBearer": []}, {"postbackQueryKey": []}]
    source = {"name": "source", "in": "path", "required": True, "schema": {"type": "string"}}
    postback_answers = {
        "200": _json("acknowledged and skipped (a test notification, out of window, unattributed)", OBJECT),
        "202": _json("the converted event committed to disk", ANSWER),
        "403": _json("this address may not post for this source (allowed_ips)"),
        "404": _json("no postback source by that name"),
        **_INGEST_ERRORS,
        "422": _json("the platform's payload cannot become an event (`field` names it), or the event is rejected"),
    }
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "TikTok events forwarder", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ingestKey": {"type": "http", "scheme": "bearer", "description": "an `sdk` source's ingest key"},
                "postbackKey": {"type": "apiKey", "in": "header", "name": "Authorization"},
                "postbackBearer": {"type": "http", "scheme": "bearer"},
                "postbackQueryKey": {"type": "apiKey", "in": "query", "name": "key"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "admin_token"},
                "adminBasic": {"type": "http", "scheme": "basic", "description": "admin_token as the password"},
            },
        },
        "paths": {
            "/v1/events": {
                "post": _operation(
                    "Post one event or a batch of up to 1,000",
                    {"202": _json("valid events committed to disk", ANSWER), **_INGEST_ERRORS},
                    [{"ingestKey": []}],
                    requestBody={
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/InboundEvent"},
                                        {"$ref": "#/components/schemas/EventBatch"},
                                    ]
                                }
                            }
                        },
                    },
                )
            },
            "/v1/postbacks/{source}": {
                "get": _operation(
                    "An attribution platform's callback, its fields in the query string",
                    postback_answers,
                    postback_key,
                    parameters=[source, *postback_query()],
                ),
                "post": _operation(
                    "An attribution platform's postback as a JSON body (query fields are merged under it)",
                    postback_answers,
                    postback_key,
                    parameters=[source],
                    requestBody={
                        "required": False,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PostbackPayload"}}},
                    },
                ),
            },
            "/v1/events/{event_id}": {
                "get": _operation(
                    "The ledger of one event: receipts, destinations, every delivery attempt",
                    {
                        "200": _json("what is known about the event", OBJECT),
                        "400": _json("not an event id"),
                        "404": _json("nothing known about this event id", OBJECT),
                        **_ADMIN_ERRORS,
                    },
                    _ADMIN,
                    parameters=[{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                )
            },
            "/v1/admin/reload": {
                "post": _operation(
                    "Re-read the config file and mapping tables (every worker)",
                    {
                        "200": _json("reloaded", OBJECT),
                        "400": _json('a body other than {"force": true|false}'),
                        "409": _json("refused: it would stop mapping event names in use (`dropped`)", OBJECT),
                        "413": _json("body too large"),
                        "422": _json("refused: invalid files; the old config stays", OBJECT),
                        "504": _json("a worker did not confirm the reload in time", OBJECT),
                    }
                    | _ADMIN_POST_ERRORS,
                    _ADMIN,
                    requestBody={
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"force": {"type": "boolean"}},
                                    "additionalProperties": False,
                                }
                            }
                        },
                    },
                )
            },
            "/v1/admin/dead": {
                "get": _operation(
                    "List dead letters (events given up on)",
                    {"200": _json("matching dead letters", OBJECT), "400": _json("a bad filter"), **_ADMIN_ERRORS},
                    _ADMIN,
                    parameters=_filter_parameters(),
                )
            },
            "/v1/admin/dead/replay": {
                "post": _operation(
                    "Send matching dead letters again, same event_id",
                    {
                        "200": _json("how many were replayed", OBJECT),
                        "400": _json("a bad filter"),
                        **_ADMIN_POST_ERRORS,
                    },
                    _ADMIN,
                    requestBody={
                        "required": False,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReplayFilter"}}},
                    },
                )
            },
            "/v1/stats": {
                "get": _operation(
                    "Counts per destination and source", {"200": _json("stats", OBJECT)} | _ADMIN_ERRORS, _ADMIN
                )
            },
            "/v1/report": report_path(_ADMIN_ERRORS, _ADMIN, ERROR),
            "/v1/audiences/{name}/performance": performance_path(_ADMIN_ERRORS, _ADMIN, ERROR),
            "/metrics": {
                "get": _operation(
                    "Prometheus metrics",
                    {"200": {"description": "exposition format", "content": text}} | _ADMIN_ERRORS,
                    _ADMIN,
                )
            },
            "/": {
                "get": _operation(
                    "The status page",
                    {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}
                    | _ADMIN_ERRORS,
                    _ADMIN,
                )
            },
            "/healthz": {"get": _operation("The process answers", {"200": _json("alive", OBJECT)}, [])},
            "/readyz": {
                "get": _operation(
                    "The store answers and delivery runs",
                    {"200": _json("ready", OBJECT), "503": _json("not ready", OBJECT)},
                    [],
                )
            },
            "/openapi.json": {"get": _operation("This description", {"200": _json("OpenAPI 3.1", OBJECT)}, [])},
            **marketing_paths(_operation, _json, _ADMIN_ERRORS, _ADMIN_POST_ERRORS, _ADMIN),
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())

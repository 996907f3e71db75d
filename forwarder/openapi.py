"""The OpenAPI description of the ingest API, derived from the event model so it cannot drift from the code."""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import __version__
from .events import InboundEvent

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
    "required": ["error", "message"],
}
_ANSWER = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        },
                    },
                },
            },
        },
        # Stored, not sent: an earlier report of the same order differs (README "One purchase, one send").
        "held": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "event_id": {"type": "string"},
                    "reason": {"type": "string"},
                    "destinations": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        # Accepted and sent nowhere (unmapped, filtered, denied at every destination, or no destination).
        "not_forwarded": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "event": {"type": "string"},
                    "reason": {"enum": ["unmapped", "filtered", "denied", "no_destination", "mixed"]},
                    "destinations": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
        # Fields of accepted events that we neither know nor use, with the closest known name.
        "warnings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "required": ["accepted", "duplicates", "rejected"],
}


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
    json_error = {"content": {"application/json": {"schema": _ERROR}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "TikTok events forwarder: ingest API", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"ingestKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"ingestKey": []}],
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Post one event or a batch of up to 1,000",
                    "requestBody": {
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
                    "responses": {
                        "202": {
                            "description": "valid events committed to disk",
                            "content": {"application/json": {"schema": _ANSWER}},
                        },
                        "400": {"description": "not JSON, or not an event or batch", **json_error},
                        "401": {
                            "description": "no valid ingest key, a postback source's key, or a bad signature",
                            **json_error,
                        },
                        "403": {"description": "the key's source does not allow this client address", **json_error},
                        "413": {"description": "body or batch too large", **json_error},
                        "422": {
                            "description": "no valid event in the request",
                            "content": {"application/json": {"schema": _ANSWER}},
                        },
                        "429": {"description": "this key's rate limit", **json_error},
                        "503": {"description": "not accepting events now; retry after Retry-After", **json_error},
                    },
                }
            }
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())

"""The bodies our endpoints answer with, as OpenAPI schemas: an error, an ingest answer, any object."""

from __future__ import annotations

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
    "required": ["error", "message"],
}
FIELD_ERRORS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    },
}
ANSWER = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "rejected": {
            "type": "array",
            "items": {"type": "object", "properties": {"index": {"type": "integer"}, "errors": FIELD_ERRORS}},
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
OBJECT = {"type": "object"}

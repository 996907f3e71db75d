"""The OpenAPI entry of `GET /v1/report` (http/report.py), kept beside openapi.py to keep that module small."""

from __future__ import annotations

from typing import Any

from ..reporting.report import LEVELS
from .report import FORMATS

_DAY = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_PARAMETERS = {
    "since": (_DAY, "first advertiser day, inclusive (default: 6 days before until)"),
    "until": (_DAY, "last advertiser day, inclusive (default: today in the advertiser's time zone)"),
    "level": ({"type": "string", "enum": list(LEVELS), "default": "campaign"}, "rows per campaign, per day, or none"),
    "format": ({"type": "string", "enum": list(FORMATS), "default": "json"}, "JSON document or CSV lines"),
}


def report_path(responses: dict[str, Any], security: list[Any], error: dict[str, Any]) -> dict[str, Any]:
    """`responses`: the admin errors; `error`: the error answer's JSON schema."""
    json_object = {"application/json": {"schema": {"type": "object"}}}
    return {
        "get": {
            "summary": "TikTok's spend and results with KPIs, blended ROAS, the audit and match-key coverage",
            "security": security,
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
                for name, (schema, description) in _PARAMETERS.items()
            ],
            "responses": {
                "200": {
                    "description": "the report; decimals as strings, null where there is no value",
                    "content": {**json_object, "text/csv": {"schema": {"type": "string"}}},
                },
                "400": {
                    "description": "a bad parameter (`field` names it)",
                    "content": {"application/json": {"schema": error}},
                },
                **responses,
            },
        }
    }

"""The OpenAPI entry of `GET /v1/audiences/{name}/performance` (http/audiences.py), beside openapi.py to keep that
module small."""

from __future__ import annotations

from typing import Any


def performance_path(responses: dict[str, Any], security: list[Any], error: dict[str, Any]) -> dict[str, Any]:
    """`responses`: the admin errors; `error`: the error answer's JSON schema."""
    answer = {"application/json": {"schema": error}}
    return {
        "get": {
            "summary": "An audience's goal conversions, lift against its control group (95% intervals), trends, funnel",
            "security": security,
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}},
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
                    "description": "JSON document or CSV lines (summary per group, then trend points)",
                },
            ],
            "responses": {
                "200": {
                    "description": "the performance; status not_enough_data (with the reason) below the sample size",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "400": {"description": "a bad parameter (`field` names it)", "content": answer},
                "404": {"description": "no such audience is configured", "content": answer},
                **responses,
            },
        }
    }

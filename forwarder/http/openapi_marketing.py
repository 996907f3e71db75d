"""The OpenAPI description of Connect TikTok and the Marketing API connection's routes (http/connect.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .openapi_schemas import ERROR, OBJECT

_HTML_OR_JSON = {"text/html": {"schema": {"type": "string"}}, "application/json": {"schema": ERROR}}


def _either(description: str) -> dict[str, Any]:
    """A refusal a browser gets as a page and anything else as JSON (by its Accept header)."""
    return {"description": description, "content": _HTML_OR_JSON}


def marketing_paths(
    operation: Callable[..., dict[str, Any]],
    json: Callable[..., dict[str, Any]],
    admin_errors: dict[str, Any],
    admin_post_errors: dict[str, Any],
    admin: list[dict[str, list[str]]],
) -> dict[str, Any]:
    """`operation`, `json` and the admin answers as openapi.py builds them for every route."""
    not_configured = _either("marketing.app_id, app_secret or public_url is not set (`missing` names them)")
    redirect = {"description": "redirect (Location)"}
    return {
        "/connect/tiktok": {
            "get": operation(
                "Connect TikTok: to TikTok's consent page, with a single-use state (10 minutes)",
                {"303": redirect, **admin_errors, "403": not_configured},
                admin,
            )
        },
        "/connect/tiktok/callback": {
            "get": operation(
                "Where TikTok sends the browser back: the auth code is exchanged and the credential kept",
                {
                    "303": {"description": "connected: to the status page"},
                    "400": _either("state missing, used, expired or not ours; or TikTok refused the auth code"),
                    "403": not_configured,
                    "502": _either("TikTok did not answer the code exchange"),
                },
                [],
                parameters=[
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 4096}}
                    for name in ("auth_code", "state")
                ],
            )
        },
        "/v1/marketing/connection": {
            "get": operation(
                "The Marketing API connection's state, the advertisers it reaches, and the fix of a bad state",
                {"200": json("state (never a token)", OBJECT), **admin_errors},
                admin,
                parameters=[
                    {
                        "name": "check",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean"},
                        "description": "probe TikTok now instead of answering the latest probe",
                    }
                ],
            )
        },
        "/v1/marketing/disconnect": {
            "post": operation(
                "Revoke the connected token at TikTok and forget it",
                {
                    "200": json("disconnected; whether TikTok revoked it, and the state now", OBJECT),
                    "409": json("nothing was connected with Connect TikTok"),
                    **admin_post_errors,
                },
                admin,
                requestBody={"required": False, "content": {"application/json": {"schema": {"type": "object"}}}},
            )
        },
    }

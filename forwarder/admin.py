"""The admin credential: `Authorization: Bearer <admin_token>`, or HTTP Basic with it as the password (browsers)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .runtime import Runtime


def _presented_secret(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII header bytes (read as latin-1)
            return None
        return decoded.partition(":")[2]
    return None


def require_admin(request: Request, runtime: Runtime) -> Response | None:
    """None when the request carries the admin token; else the 401/403 answer to send."""
    token = runtime.settings.admin_token
    if token is None:
        return JSONResponse(
            {"error": "admin_disabled", "message": "set admin_token in the config to use admin endpoints"}, 403
        )
    presented = _presented_secret(request)
    expected = hashlib.sha256(token.get_secret_value().encode()).digest()
    if presented is None or not hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), expected):
        return JSONResponse(
            {"error": "unauthorized", "message": "send the admin token as a Bearer token or Basic password"},
            401,
            headers={"WWW-Authenticate": 'Basic realm="forwarder admin"'},
        )
    return None

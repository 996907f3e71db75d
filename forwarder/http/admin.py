"""The admin credential: `Authorization: Bearer <admin_token>`, or HTTP Basic with it as the password (browsers).

A browser that holds the Basic credential sends it with any request a page makes, even another site's page; so a
request that changes something (any method but GET/HEAD) is refused when it comes from another site (`Origin`,
`Sec-Fetch-Site`), and a POST must say `Content-Type: application/json`, which no form can send and which a
cross-site script cannot send without a CORS preflight this service never grants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..runtime import Runtime

_READS = frozenset({"GET", "HEAD"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


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


def _origin_host(origin: str) -> str | None:
    """`host[:port]` of an Origin header, without the scheme's default port; None when it is not an http(s) URL."""
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return None  # "null" (sandboxed frames, file: pages) and anything else we cannot place
    return parts.netloc.removesuffix(f":{_DEFAULT_PORTS[parts.scheme]}")


def _is_cross_site(request: Request) -> bool:
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):  # same-site: a sibling subdomain
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False  # curl, the CLI, and browsers too old to send it (the content type still guards those)
    host = request.headers.get("host", "").lower()
    for port in _DEFAULT_PORTS.values():
        host = host.removesuffix(f":{port}")
    return _origin_host(origin.lower()) != host


def _refuse_forgery(request: Request) -> Response | None:
    """The 403/415 answer for a state-changing request a web page could have forged, else None."""
    if _is_cross_site(request):
        return JSONResponse(
            {
                "error": "cross_site_request",
                "field": "Origin",
                "message": "admin changes are refused from another site's page; call the API with curl or the CLI",
            },
            403,
        )
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if request.method == "POST" and content_type != "application/json":
        return JSONResponse(
            {
                "error": "unsupported_media_type",
                "field": "Content-Type",
                "message": "admin POSTs need Content-Type: application/json (a body of {} will do)",
            },
            415,
        )
    return None


def require_admin(request: Request, runtime: Runtime) -> Response | None:
    """None when the request carries the admin token (and, when it changes something, cannot be a cross-site
    forgery); else the 401/403/415 answer to send."""
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
    return None if request.method in _READS else _refuse_forgery(request)

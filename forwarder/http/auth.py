r"""Who may post events, and where: ingest keys (kept only as SHA-256 digests), the one endpoint each key opens,
per-source address allow-lists, optional signatures. Per-key rate limits are kept by the store, so that every
worker and replica shares them (requests.key_wait_s).

A key opens one door: an `sdk` source's keys `POST /v1/events`, a platform's keys its own `/v1/postbacks/{name}`.

Signatures follow the Standard Webhooks scheme (https://www.standardwebhooks.com): headers `webhook-id`,
`webhook-timestamp` (Unix seconds, ASCII digits) and `webhook-signature` (`v1,<base64 HMAC-SHA256>`,
space-separated for rotation), with a secret `whsec_<base64>`. The signed content is

    {webhook-id}.{webhook-timestamp}.{body}                  when the URL has no query string (exactly Standard
                                                             Webhooks, so its libraries and test vectors apply)
    {webhook-id}.{webhook-timestamp}.?{query}\n{body}        when it has one: `query` is the raw query string as
                                                             sent (after `?`, not decoded or reordered), then a
                                                             line feed, then the body (empty for GET)

so a sender with a query string signs the payload `?{query}\n{body}` with any Standard Webhooks library. A body
we accept is empty or JSON, which never starts with `?`, and a query string holds no line feed: the two forms
cannot be confused. Timestamps
outside a 5-minute window are refused, so a captured request cannot be replayed later (and a replay inside it is
deduplicated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from typing import NamedTuple

from starlette.datastructures import Headers

from ..settings import SourceSettings

SIGNATURE_TOLERANCE_S = 300
MAX_TIMESTAMP_DIGITS = 12  # Unix seconds have 10 digits until the year 2286


def door(name: str, source: SourceSettings) -> str:
    """The one endpoint a source's keys open: `/v1/events` for an SDK, its own postback URL for a platform."""
    return "/v1/events" if source.kind == "sdk" else f"/v1/postbacks/{name}"


def is_address_allowed(host: str | None, source: SourceSettings) -> bool:
    """Whether the client address (as the ASGI server gives it) is in the source's `allowed_ips` (empty: any)."""
    if not source.allowed_ips:
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in network for network in source.allowed_networks)


def _secret_bytes(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return secret.encode()


def signed_content(message_id: str, timestamp: int, body: bytes, query: bytes = b"") -> bytes:
    """What a signature covers (module docstring): Standard Webhooks' string, with the query when there is one."""
    payload = b"?" + query + b"\n" + body if query else body
    return f"{message_id}.{timestamp}.".encode() + payload


def sign(secret: str, message_id: str, timestamp: int, body: bytes, query: str | bytes = b"") -> str:
    """The `webhook-signature` value a sender puts on a request (used by tests and documented for senders)."""
    content = signed_content(message_id, timestamp, body, query.encode() if isinstance(query, str) else query)
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class SignatureProblem(NamedTuple):
    field: str  # the header at fault
    message: str


def signature_problem(
    source: SourceSettings, headers: Headers, query: bytes, body: bytes, now: float
) -> SignatureProblem | None:
    """Why a signed source's request is not authentic, or None (also None when the source signs nothing).

    `query` is the raw query string (the ASGI scope's `query_string`), `body` the raw body.
    """
    if not source.signing_secrets:
        return None
    missing = [name for name in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(name)]
    if missing:
        return SignatureProblem(
            missing[0], "this source must sign requests: webhook-id, webhook-timestamp and webhook-signature headers"
        )
    message_id, timestamp, signatures = (
        headers["webhook-id"],
        headers["webhook-timestamp"],
        headers["webhook-signature"],
    )
    # isdigit() alone takes "²" and Arabic-Indic digits, and int() of thousands of digits raises: ASCII, bounded.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        return SignatureProblem("webhook-timestamp", "webhook-timestamp must be Unix seconds (ASCII digits)")
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return SignatureProblem(
            "webhook-timestamp", f"webhook-timestamp is more than {SIGNATURE_TOLERANCE_S} s from the server's clock"
        )
    presented = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    for secret in source.signing_secrets:
        expected = sign(secret.get_secret_value(), message_id, int(timestamp), body, query).split(",", 1)[1]
        if any(hmac.compare_digest(expected.encode(), p.encode()) for p in presented):
            return None
    covered = "the query string and body" if query else "the body"
    return SignatureProblem("webhook-signature", f"webhook-signature does not match {covered}")

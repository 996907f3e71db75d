"""Who may post events: ingest keys (kept only as SHA-256 digests) and optional signatures.

Per-key rate limits are kept by the store, so that every worker and replica shares them: ingest.key_wait_s.

Signatures follow the Standard Webhooks scheme (https://www.standardwebhooks.com): headers `webhook-id`,
`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>`, space-separated for
rotation) over `{id}.{timestamp}.{raw body}`, with a secret `whsec_<base64>`; timestamps outside a 5-minute
window are refused, so a captured request cannot be replayed later (and a replay inside it is deduplicated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.requests import Request

from .settings import SourceSettings

SIGNATURE_TOLERANCE_S = 300


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Caller(NamedTuple):
    source: str
    key_id: str  # a short, non-secret id of the key (for logs and its rate limit)


class KeyRing:
    """Maps SHA-256 digests of ingest keys to source names; several keys per source allow rotation."""

    def __init__(self, sources: dict[str, SourceSettings]) -> None:
        self._sources: dict[bytes, str] = {}
        for name, source in sources.items():
            for key in source.keys:
                self._sources[key_digest(key.get_secret_value())] = name
            for hex_digest in source.key_sha256:
                self._sources[bytes.fromhex(hex_digest)] = name

    def caller(self, request: Request) -> Caller | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        return self.caller_for_key(key.strip())

    def caller_for_key(self, key: str) -> Caller | None:
        presented = key_digest(key)
        found = None
        for digest, name in self._sources.items():  # compare with every key, in constant time each
            if hmac.compare_digest(digest, presented):
                found = name
        return Caller(found, presented.hex()[:12]) if found else None


def _secret_bytes(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value a sender puts on a request (used by tests and documented for senders)."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_problem(source: SourceSettings, headers: Headers, body: bytes, now: float) -> str | None:
    """Why a signed source's request is not authentic, or None (also None when the source signs nothing)."""
    if not source.signing_secrets:
        return None
    message_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        return "this source must sign requests: webhook-id, webhook-timestamp and webhook-signature headers"
    if not timestamp.isdigit():
        return "webhook-timestamp must be Unix seconds"
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return f"webhook-timestamp is more than {SIGNATURE_TOLERANCE_S} s from the server's clock"
    presented = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    for secret in source.signing_secrets:
        expected = sign(secret.get_secret_value(), message_id, int(timestamp), body).split(",", 1)[1]
        if any(hmac.compare_digest(expected.encode(), p.encode()) for p in presented):
            return None
    return "webhook-signature does not match the body"

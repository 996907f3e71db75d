"""Ingest keys and who holds them: kept only as SHA-256 digests, compared in constant time.

Below the HTTP layer so that the runtime snapshot can hold a key ring without importing an endpoint module;
which endpoint a key opens and the signatures are `http/auth.py`'s.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple

from starlette.requests import Request

from .settings import SourceSettings


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

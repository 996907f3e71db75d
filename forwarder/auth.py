"""Ingest keys: which source a bearer key belongs to, without keeping or comparing keys in plain text."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from .settings import SourceSettings


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    """Maps SHA-256 digests of ingest keys to source names; several keys per source allow rotation."""

    def __init__(self, sources: dict[str, SourceSettings]) -> None:
        self._sources = {
            _digest(key.get_secret_value()): name for name, source in sources.items() for key in source.keys
        }

    def source_for(self, request: Request) -> str | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        presented = _digest(key.strip())
        for digest, name in self._sources.items():
            if hmac.compare_digest(digest, presented):
                return name
        return None

"""Ingest keys' rate limits, kept in memory by the writer for every worker it serves."""

from __future__ import annotations


class KeyBuckets:
    """Ingest keys' token buckets, in memory: the writer keeps them for every worker it serves, so a key's rate limit
    holds for the service as a whole without a disk write per request (a restart refills them, which is harmless)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when counted)

    def take(self, key_id: str, rate: float, burst: float, now: float) -> float:
        """0 when the request may go on (a token taken), else the seconds until a token will be there."""
        burst = max(1.0, burst)
        tokens, at = self._buckets.get(key_id, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        at = max(at, now)
        if tokens >= 1 - 1e-9:  # float rounding must not cost a whole extra wait
            self._buckets[key_id] = (max(0.0, tokens - 1), at)
            return 0.0
        self._buckets[key_id] = (tokens, at)
        return (1 - tokens) / rate

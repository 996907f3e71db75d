"""The forwarder's exceptions.

ForwarderError
 ├── ConfigError              settings or a mapping table are invalid (startup and `forwarder check`)
 │    └── MappingError
 ├── StoreUnavailable         the store cannot take writes now (ingest answers 503)
 └── DeliveryError            one request to the Events API did not deliver its batch
      ├── RetryableError      rate limit (40100), HTTP 429/5xx, timeout, connection error: try again later
      └── PermanentError      TikTok refused the events (e.g. 40002): retrying the same body cannot help

The delivery worker decides what to do with a batch by the exception's type alone.
"""

from __future__ import annotations

from dataclasses import dataclass


class ForwarderError(Exception):
    pass


class ConfigError(ForwarderError):
    pass


class MappingError(ConfigError):
    """A mapping table that cannot be used, naming the file, the key and the reason."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f"{file}: {key + ': ' if key else ''}{reason}")


class StoreUnavailable(ForwarderError):
    pass


@dataclass
class Outcome:
    """What one request to the Events API returned, as recorded for each event it carried."""

    http_status: int | None
    tiktok_code: int | None
    message: str
    request_id: str | None = None


class DeliveryError(ForwarderError):
    def __init__(self, outcome: Outcome, retry_after_s: float | None = None) -> None:
        self.outcome = outcome
        self.retry_after_s = retry_after_s
        super().__init__(outcome.message)


class RetryableError(DeliveryError):
    pass


class PermanentError(DeliveryError):
    pass

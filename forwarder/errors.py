"""The forwarder's exceptions.

ForwarderError
 ├── ConfigError              settings or a mapping table are invalid (startup and `forwarder check`)
 │    └── MappingError
 ├── StoreUnavailable         the store cannot take writes now (ingest answers 503)
 └── DeliveryError            one request to the Events API did not deliver its batch
      ├── RetryableError      HTTP 5xx, timeout, connection error, TikTok-side codes (5xxxx, 60001): try again
      │    ├── RateLimited    40100, 40132, 51021, 61000, HTTP 429: back off without counting an attempt
      │    ├── UnknownCodeError  a code TikTok's table does not hold: a few retries, then failed
      │    └── DestinationRefused  the destination, not its events, is at fault: pause it, keep the events
      │         ├── AuthError       the token or its permission (40001, 40105, HTTP 401/403, ...): probe
      │         └── SettingRefused  a request-wide setting (40063 partner_name, event_source_id, ...)
      └── PermanentError      TikTok refused the events (e.g. 40002): retrying the same body cannot help

The delivery worker decides what to do with a batch by the exception's type alone; `tiktok/codes.py` holds the
table of TikTok codes behind the types.
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
    # A partial answer (20001): index in the batch -> TikTok's reason, for the events it names as refused.
    refused: dict[int, str] | None = None


class DeliveryError(ForwarderError):
    def __init__(self, outcome: Outcome, retry_after_s: float | None = None) -> None:
        self.outcome = outcome
        self.retry_after_s = retry_after_s
        super().__init__(outcome.message)


class RetryableError(DeliveryError):
    pass


class PermanentError(DeliveryError):
    pass


class RateLimited(RetryableError):
    pass


class UnknownCodeError(RetryableError):
    """A non-zero code we have no rule for: worth a few retries, not the full retry budget."""


class DestinationRefused(RetryableError):
    pass


class AuthError(DestinationRefused):
    """TikTok refused the destination's credentials (e.g. 40001 permission, 40105 bad or revoked token)."""


class SettingRefused(DestinationRefused):
    """TikTok refused a setting every request of the destination carries (partner_name, event_source_id)."""

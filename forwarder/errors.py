"""The forwarder's exceptions.

ForwarderError
 ├── ConfigError              settings or a mapping table are invalid (startup and `forwarder check`)
 │    └── MappingError
 ├── BadRequest               a request answered with a 4xx before any event in it is read (`http/requests.py`)
 ├── FieldError               an inbound value that cannot be used, naming its field (also a ValueError)
 │    ├── PayloadError        a value TikTok would not accept, naming the inbound field (`tiktok/`)
 │    └── PostbackError       a postback that cannot become an event, naming the platform's field (`postbacks/`)
 ├── StoreUnavailable         the store cannot take writes now (ingest answers 503)
 └── DeliveryError            one request to a destination did not deliver its batch
      ├── RetryableError      HTTP 5xx, timeout, connection error, the far side's trouble: try again
      │    ├── RateLimited    the destination's rate limit (HTTP 429, ...): back off without counting an attempt
      │    ├── UnknownCodeError  a code the destination's table does not hold: a few retries, then failed
      │    └── DestinationRefused  the destination, not its events, is at fault: pause it, keep the events
      │         ├── AuthError       the token or its permission (HTTP 401/403, ...): probe
      │         └── SettingRefused  a request-wide setting (TikTok: partner_name, event_source_id, ...)
      └── PermanentError      the events were refused: retrying the same body cannot help

The delivery loop decides what to do with a batch by the exception's type alone (`delivery/destination.py`);
each destination maps its answers to these types (TikTok's code table: `tiktok/codes.py`).
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


class BadRequest(ForwarderError):
    """A request we answer with a 4xx before looking at any event in it."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        self.status, self.error, self.message, self.field = status, error, message, field
        super().__init__(message)

    def body(self) -> dict[str, str]:
        body = {"error": self.error, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class FieldError(ForwarderError, ValueError):
    """An inbound value that cannot be used, naming the field it came in."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class PayloadError(FieldError):
    """An inbound value TikTok would not accept, naming the inbound field."""


class PostbackError(FieldError):
    """A postback that cannot become an event, naming the platform's field."""


class StoreUnavailable(ForwarderError):
    pass


@dataclass
class Outcome:
    """What one request to a destination returned, as recorded for each event it carried.

    `code` is the destination's own answer code (TikTok's `code`); stored rows, logs and /v1/stats keep calling
    it `tiktok_code`, the name they had before there was more than one kind of destination.
    """

    http_status: int | None
    code: int | None
    message: str
    request_id: str | None = None
    # A partial answer (TikTok's 20001): index in the batch -> the reason, for the events it names as refused.
    refused: dict[int, str] | None = None
    partial: bool = False  # settled by a partial answer: never counted as a plain success


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

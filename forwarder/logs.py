"""Structured logs: structlog events with fields, JSON off a TTY, every known secret scrubbed."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"


class SecretScrubber:
    """Replaces every occurrence of a configured secret in any log field, however it got there; the Events API
    client scrubs TikTok's answers with the same one before they are stored."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: tuple[str, ...] = ()
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def extend(self, secrets: Iterable[str]) -> None:
        """Add secrets and keep the known ones: a late answer may still echo a token a reload removed."""
        self.update([*self.secrets, *secrets])

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(item) for item in value]
        if isinstance(value, BaseException):
            return self.scrub(repr(value))
        return value

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        if not self.secrets:
            return event_dict
        return {key: self.scrub(value) for key, value in event_dict.items()}


# One per process, like the logging configuration it is part of; reloads extend it.
scrubber = SecretScrubber()


def add_pid(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Which worker process logged the line (`server.workers` > 1)."""
    event_dict["pid"] = os.getpid()
    return event_dict


def _shared_processors(with_pid: bool) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        *([add_pid] if with_pid else []),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        scrubber,
    ]


def configure_logging(
    level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), *, with_pid: bool = False
) -> None:
    """Configure structlog and route stdlib logging (uvicorn, httpx) through the same processors."""
    scrubber.update(secrets)
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # Filter by level first: a debug line on the hot path then costs a comparison, not the whole chain.
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(with_pid),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(with_pid),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # No access log: a line per request costs more than the request on the ingest path, and our own events
    # (ingest.rejected, delivery.*) say what matters. Also in worker processes, which set up logging after uvicorn.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    # httpx logs every request URL at INFO; our delivery events say more, with fewer lines.
    for name in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def uvicorn_log_config() -> dict[str, Any]:
    """Let uvicorn keep its loggers but leave handlers and format to configure_logging()."""
    return {"version": 1, "disable_existing_loggers": False}

"""What a store keeps for reporting: TikTok's report rows as exact decimals, which days are complete, the pull log,
the pull lease, and the outbox rows the forwarded side is summed from. Both backends implement `ReportStore`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from .sqlite.writer.reports import METRIC_COLUMNS, PULL_COLUMNS, ROW_COLUMNS

__all__ = ["METRIC_COLUMNS", "PULL_COLUMNS", "ROW_COLUMNS", "ReportPull", "ReportStore", "StoredRow"]


@dataclass(frozen=True)
class StoredRow:
    """One report row as stored: `object_id` is the campaign id (campaign level) or the advertiser id."""

    level: str
    object_id: str
    day: str  # YYYY-MM-DD in the advertiser's time zone
    currency: str
    campaign_name: str | None
    metrics: tuple[Decimal | None, ...]  # in METRIC_COLUMNS order; None is unknown ("-")


@dataclass(frozen=True)
class ReportPull:
    """Every page of one pull of one advertiser, stored in one transaction with its log line."""

    advertiser_id: str
    advertiser_name: str
    currency: str
    timezone: str
    since: str
    until: str
    what: str  # "today" or "trailing"
    rows: list[StoredRow]
    days: list[tuple[str, bool]]  # each day the pull covered, and whether it had ended when pulled
    levels: list[str]
    pages: int
    request_id: str | None
    at: float
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def log_line(self) -> tuple[Any, ...]:
        return (self.at, self.advertiser_id, self.since, self.until, self.what, self.pages, len(self.rows),
                self.request_id, "ok", self.message)  # fmt: skip


def decimal_or_none(value: Any) -> Decimal | None:
    """A stored metric (TEXT in SQLite, numeric in PostgreSQL) back as an exact Decimal."""
    return None if value is None else Decimal(str(value))


def row_document(row: Any) -> dict[str, Any]:
    """A stored row (in ROW_COLUMNS order, then pulled_at) as a dict with Decimal metrics."""
    values = list(row)
    document = dict(zip((*ROW_COLUMNS, "pulled_at"), values, strict=True))
    for name in METRIC_COLUMNS:
        document[name] = decimal_or_none(document[name])
    return document


# Outbox rows TikTok was sent (attempted at least once), test events left out: the forwarded side of the audit.
FORWARDED_QUERY = """SELECT event, event_id, state, payload FROM outbox
    WHERE test_event_code IS NULL AND attempts > 0 AND created_at >= {since} AND created_at < {until}
    ORDER BY id LIMIT {limit}"""


class ReportStore(Protocol):
    async def take_report_lease(self, owner: str, now: float, lease_s: float) -> bool:
        """Take or renew the one lease replicas pull under; False while another holds it."""
        ...

    async def store_report_pull(self, pull: ReportPull) -> None:
        """Upsert the rows, drop rows of those days no longer reported, mark the days complete, log: all or nothing."""
        ...

    async def log_report_pull(self, line: tuple[Any, ...]) -> None:
        """Record a pull that stored nothing (refused, failed): a tuple in PULL_COLUMNS order."""
        ...

    async def report_rows(self, since: str, until: str) -> list[dict[str, Any]]:
        """Stored rows with `since <= day <= until` (ROW_COLUMNS and pulled_at; metrics as Decimal or None)."""
        ...

    async def report_days(self) -> list[dict[str, Any]]:
        """Complete days: advertiser_id, day, pulled_at, day_over (the day had ended in its time zone)."""
        ...

    async def report_advertisers(self) -> list[dict[str, Any]]:
        """advertiser_id, name, currency, timezone as last pulled."""
        ...

    async def report_pulls(self, limit: int) -> list[dict[str, Any]]:
        """The latest pulls, newest first (PULL_COLUMNS)."""
        ...

    async def forwarded_items(self, since: float, until: float, limit: int) -> list[tuple[str, str, int, bytes]]:
        """(TikTok event, event_id, state, payload) of outbox rows created in `since..until` and sent at least once."""
        ...

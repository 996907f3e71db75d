"""The report's inputs read from the store: TikTok's stored rows as `ReportRow`s, and what we forwarded as
`ForwardedEvent`s (outbox rows sent at least once; acknowledged = delivered, TikTok answered code 0)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ..store import State, Store
from .forwarded import ForwardedEvent
from .rows import METRICS, Figures, ReportRow

FORWARDED_LIMIT = 200_000  # outbox rows read per report; beyond it the forwarded side is partial (a warning says so)
# Events may be sent a while after they happened: read rows stored up to this long after the range's last day.
LATE_S = 7 * 86400


def report_row(stored: dict[str, Any]) -> ReportRow:
    campaign = stored["object_id"] if stored["level"] == "campaign" else None
    return ReportRow(
        level=stored["level"],
        advertiser_id=stored["advertiser_id"],
        campaign_id=campaign,
        day=date.fromisoformat(stored["day"]),
        currency=stored["currency"],
        figures=Figures(**{name: stored[name] for name in METRICS}),
        campaign_name=stored["campaign_name"],
    )


async def report_rows(store: Store, since: date, until: date) -> list[ReportRow]:
    return [report_row(row) for row in await store.report_rows(since.isoformat(), until.isoformat())]


def forwarded_event(event: str, event_id: str, state: int, payload: bytes) -> ForwardedEvent | None:
    """One outbox row as a ForwardedEvent; None when its payload has no usable event_time."""
    try:
        item = json.loads(payload)
        when = datetime.fromtimestamp(float(item["event_time"]), UTC)
    except (ValueError, KeyError, TypeError, OverflowError):
        return None
    properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
    user = item.get("user") if isinstance(item.get("user"), dict) else {}
    value: Decimal | None
    try:
        raw = properties.get("value")
        value = Decimal(str(raw)) if isinstance(raw, int | float | str) and not isinstance(raw, bool) else None
    except InvalidOperation:
        value = None
    currency = properties.get("currency")
    return ForwardedEvent(
        event_id=event_id,
        event_name=str(item.get("event") or event),
        event_time=when,
        acknowledged=state == State.DELIVERED,
        value=value if value is not None and value.is_finite() else None,
        currency=str(currency) if currency else None,
        match_keys=frozenset(key for key, found in user.items() if found),
    )


async def forwarded_events(store: Store, since: date, until: date) -> tuple[list[ForwardedEvent], bool]:
    """Events sent in time to fall on `since..until` in any time zone; True when the read limit cut them short."""
    start = datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp() - 86400
    end = datetime(until.year, until.month, until.day, tzinfo=UTC).timestamp() + 2 * 86400 + LATE_S
    rows = await store.forwarded_items(start, end, FORWARDED_LIMIT)
    low, high = since - timedelta(days=1), until + timedelta(days=1)
    events = []
    for row in rows:
        event = forwarded_event(*row)
        if event is not None and low <= event.event_time.date() <= high:
            events.append(event)
    return events, len(rows) >= FORWARDED_LIMIT

"""The report puller's writes: a whole pull (rows, its complete days, its log line) in one transaction, the
pull log alone for a refused pull, and the lease that lets one replica pull at a time.

Standard library only (this runs in the writer process). Values arrive as decimal text or None (TikTok's "-").
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .counters import Counters

# One column per metric, TikTok's names; reporting/rows.py reads its METRICS from here.
METRIC_COLUMNS = (
    "spend",
    "impressions",
    "clicks",
    "app_install",
    "conversion",
    "purchase",
    "total_purchase",
    "total_purchase_value",
    "start_trial",
    "total_start_trial",
    "subscribe",
    "total_subscribe",
    "total_subscribe_value",
    "registration",
    "total_registration",
)
ROW_COLUMNS = ("advertiser_id", "level", "object_id", "day", "currency", "campaign_name", *METRIC_COLUMNS)
PULL_COLUMNS = ("at", "advertiser_id", "since", "until", "what", "pages", "rows", "request_id", "result", "message")


def store_report_pull(
    connection: sqlite3.Connection,
    counters: Counters,
    advertiser: tuple[str, str, str, str],
    rows: list[tuple[Any, ...]],
    days: list[tuple[str, int]],
    levels: list[str],
    log_line: tuple[Any, ...],
    now: float,
) -> None:
    """Every page of one pull: rows upserted, rows of those days no longer reported removed (a restated day may
    lose a campaign), the days marked complete, the pull logged. Nothing is marked complete unless all of it is."""
    connection.execute(
        """INSERT INTO report_advertisers VALUES (?, ?, ?, ?, ?) ON CONFLICT (advertiser_id) DO UPDATE SET
           name = excluded.name, currency = excluded.currency, timezone = excluded.timezone,
           updated_at = excluded.updated_at""",
        (*advertiser, now),
    )
    marks = ", ".join("?" * len(ROW_COLUMNS))
    updates = ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS[4:])
    connection.executemany(
        f"""INSERT INTO report_rows ({", ".join(ROW_COLUMNS)}, pulled_at) VALUES ({marks}, ?)
            ON CONFLICT (advertiser_id, level, object_id, day)
            DO UPDATE SET {updates}, pulled_at = excluded.pulled_at""",
        [(*row, now) for row in rows],
    )
    for day, _ in days:
        for level in levels:
            connection.execute(
                "DELETE FROM report_rows WHERE advertiser_id = ? AND level = ? AND day = ? AND pulled_at < ?",
                (advertiser[0], level, day, now),
            )
    connection.executemany(
        """INSERT INTO report_days VALUES (?, ?, ?, ?) ON CONFLICT (advertiser_id, day) DO UPDATE SET
           pulled_at = excluded.pulled_at, day_over = excluded.day_over""",
        [(advertiser[0], day, now, day_over) for day, day_over in days],
    )
    log_report_pull(connection, counters, log_line)


def log_report_pull(connection: sqlite3.Connection, counters: Counters, log_line: tuple[Any, ...]) -> None:
    connection.execute(f"INSERT INTO report_pulls ({', '.join(PULL_COLUMNS)}) VALUES ({', '.join('?' * 10)})", log_line)
    # The log is for people reading what happened lately, not an archive.
    connection.execute("DELETE FROM report_pulls WHERE id <= (SELECT max(id) FROM report_pulls) - 1000")


def take_report_lease(
    connection: sqlite3.Connection, counters: Counters, owner: str, now: float, lease_s: float
) -> bool:
    """Take or renew the pull lease; False while another owner holds an unexpired one."""
    connection.execute(
        """INSERT INTO report_lease VALUES ('puller', ?, ?) ON CONFLICT (name) DO UPDATE SET
           owner = excluded.owner, expires_at = excluded.expires_at
           WHERE report_lease.owner = excluded.owner OR report_lease.expires_at <= ?""",
        (owner, now + lease_s, now),
    )
    row = connection.execute("SELECT owner FROM report_lease WHERE name = 'puller'").fetchone()
    return bool(row and row[0] == owner)

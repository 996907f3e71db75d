"""SQLiteStore's reporting methods (store/reports.py): reads on the store's connection, writes via the writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..reports import FORWARDED_QUERY, PULL_COLUMNS, ROW_COLUMNS, ReportPull, row_document
from .writer import operations as writer
from .writer.counters import Counters

T = TypeVar("T")
P = ParamSpec("P")


class SQLiteReports:
    """Mixed into SQLiteStore, which provides `_read` and `_write`."""

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _write(
        self, operation: Callable[Concatenate[sqlite3.Connection, Counters, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        raise NotImplementedError

    async def take_report_lease(self, owner: str, now: float, lease_s: float) -> bool:
        taken: bool = await self._write(writer.take_report_lease, owner, now, lease_s)
        return taken

    async def store_report_pull(self, pull: ReportPull) -> None:
        # Decimals cross the pipe as text, stored as TEXT: exact, and the writer needs no Decimal.
        rows = [
            (pull.advertiser_id, r.level, r.object_id, r.day, r.currency, r.campaign_name,
             *(None if value is None else str(value) for value in r.metrics))
            for r in pull.rows
        ]  # fmt: skip
        advertiser = (pull.advertiser_id, pull.advertiser_name, pull.currency, pull.timezone)
        days = [(day, int(over)) for day, over in pull.days]
        await self._write(writer.store_report_pull, advertiser, rows, days, pull.levels, pull.log_line(), pull.at)

    async def log_report_pull(self, line: tuple[Any, ...]) -> None:
        await self._write(writer.log_report_pull, line)

    async def report_rows(self, since: str, until: str) -> list[dict[str, Any]]:
        rows = await self._read(
            lambda c: c.execute(
                f"""SELECT {", ".join(ROW_COLUMNS)}, pulled_at FROM report_rows WHERE day >= ? AND day <= ?
                    ORDER BY day, advertiser_id, level, object_id""",
                (since, until),
            ).fetchall()
        )
        return [row_document(row) for row in rows]

    async def report_days(self) -> list[dict[str, Any]]:
        rows = await self._read(lambda c: c.execute("SELECT * FROM report_days ORDER BY day").fetchall())
        return [{"advertiser_id": a, "day": d, "pulled_at": at, "day_over": bool(over)} for a, d, at, over in rows]

    async def report_advertisers(self) -> list[dict[str, Any]]:
        rows = await self._read(
            lambda c: c.execute("SELECT advertiser_id, name, currency, timezone FROM report_advertisers").fetchall()
        )
        return [dict(zip(("advertiser_id", "name", "currency", "timezone"), row, strict=True)) for row in rows]

    async def report_pulls(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT {', '.join(PULL_COLUMNS)} FROM report_pulls ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        )
        return [dict(zip(PULL_COLUMNS, row, strict=True)) for row in rows]

    async def forwarded_items(self, since: float, until: float, limit: int) -> list[tuple[str, str, int, bytes]]:
        query = FORWARDED_QUERY.format(since="?", until="?", limit="?")
        rows = await self._read(lambda c: c.execute(query, (since, until, limit)).fetchall())
        return [(event, event_id, state, bytes(payload)) for event, event_id, state, payload in rows]

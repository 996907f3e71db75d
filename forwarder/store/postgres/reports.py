"""PostgresStore's reporting methods (store/reports.py): metrics as numeric, a pull in one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from ..reports import FORWARDED_QUERY, PULL_COLUMNS, ROW_COLUMNS, ReportPull, row_document

_ROW_MARKS = ", ".join(f"${n}" for n in range(1, len(ROW_COLUMNS) + 2))
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in (*ROW_COLUMNS[4:], "pulled_at"))
_PULL_MARKS = ", ".join(f"${n}" for n in range(1, len(PULL_COLUMNS) + 1))


async def log_pull(connection: asyncpg.Connection, line: tuple[Any, ...]) -> None:
    await connection.execute(f"INSERT INTO report_pulls ({', '.join(PULL_COLUMNS)}) VALUES ({_PULL_MARKS})", *line)
    await connection.execute("DELETE FROM report_pulls WHERE id <= (SELECT max(id) FROM report_pulls) - 1000")


class PostgresReports:
    """Mixed into PostgresStore, which provides `_connection`."""

    def _connection(
        self, transaction: bool = True, snapshot: bool = False
    ) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        raise NotImplementedError

    async def take_report_lease(self, owner: str, now: float, lease_s: float) -> bool:
        async with self._connection() as connection:
            holder = await connection.fetchval(
                """INSERT INTO report_lease VALUES ('puller', $1, $2) ON CONFLICT (name) DO UPDATE SET
                   owner = excluded.owner, expires_at = excluded.expires_at
                   WHERE report_lease.owner = excluded.owner OR report_lease.expires_at <= $3
                   RETURNING owner""",
                owner,
                now + lease_s,
                now,
            )
        return bool(holder == owner)

    async def store_report_pull(self, pull: ReportPull) -> None:
        async with self._connection() as connection:
            await connection.execute(
                """INSERT INTO report_advertisers VALUES ($1, $2, $3, $4, $5) ON CONFLICT (advertiser_id) DO UPDATE
                   SET name = excluded.name, currency = excluded.currency, timezone = excluded.timezone,
                   updated_at = excluded.updated_at""",
                pull.advertiser_id,
                pull.advertiser_name,
                pull.currency,
                pull.timezone,
                pull.at,
            )
            await connection.executemany(
                f"""INSERT INTO report_rows ({", ".join(ROW_COLUMNS)}, pulled_at) VALUES ({_ROW_MARKS})
                    ON CONFLICT (advertiser_id, level, object_id, day) DO UPDATE SET {_UPDATES}""",
                [
                    (pull.advertiser_id, r.level, r.object_id, r.day, r.currency, r.campaign_name, *r.metrics, pull.at)
                    for r in pull.rows
                ],
            )
            days = [day for day, _ in pull.days]
            await connection.execute(
                """DELETE FROM report_rows WHERE advertiser_id = $1 AND level = ANY($2::text[])
                   AND day = ANY($3::text[]) AND pulled_at < $4""",
                pull.advertiser_id,
                pull.levels,
                days,
                pull.at,
            )
            await connection.executemany(
                """INSERT INTO report_days VALUES ($1, $2, $3, $4) ON CONFLICT (advertiser_id, day) DO UPDATE SET
                   pulled_at = excluded.pulled_at, day_over = excluded.day_over""",
                [(pull.advertiser_id, day, pull.at, over) for day, over in pull.days],
            )
            await log_pull(connection, pull.log_line())

    async def log_report_pull(self, line: tuple[Any, ...]) -> None:
        async with self._connection() as connection:
            await log_pull(connection, line)

    async def report_rows(self, since: str, until: str) -> list[dict[str, Any]]:
        async with self._reading() as connection:
            rows = await connection.fetch(
                f"""SELECT {", ".join(ROW_COLUMNS)}, pulled_at FROM report_rows WHERE day >= $1 AND day <= $2
                    ORDER BY day, advertiser_id, level, object_id""",
                since,
                until,
            )
        return [row_document(row.values()) for row in rows]

    async def report_days(self) -> list[dict[str, Any]]:
        async with self._reading() as connection:
            rows = await connection.fetch(
                "SELECT advertiser_id, day, pulled_at, day_over FROM report_days ORDER BY day"
            )
        return [dict(row) for row in rows]

    async def report_advertisers(self) -> list[dict[str, Any]]:
        async with self._reading() as connection:
            rows = await connection.fetch("SELECT advertiser_id, name, currency, timezone FROM report_advertisers")
        return [dict(row) for row in rows]

    async def report_pulls(self, limit: int) -> list[dict[str, Any]]:
        async with self._reading() as connection:
            rows = await connection.fetch(
                f"SELECT {', '.join(PULL_COLUMNS)} FROM report_pulls ORDER BY id DESC LIMIT $1", limit
            )
        return [dict(row) for row in rows]

    async def forwarded_items(self, since: float, until: float, limit: int) -> list[tuple[str, str, int, bytes]]:
        async with self._reading() as connection:
            rows = await connection.fetch(
                FORWARDED_QUERY.format(since="$1", until="$2", limit="$3"), since, until, limit
            )
        return [(r["event"], r["event_id"], r["state"], bytes(r["payload"])) for r in rows]

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection(transaction=False) as connection:
            yield connection

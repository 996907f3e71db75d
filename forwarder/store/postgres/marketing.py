"""The Marketing API connection on PostgreSQL: the connected credential and the single-use OAuth states."""

from __future__ import annotations

import asyncpg

from ..marketing import MarketingCredential


async def save_credential(connection: asyncpg.Connection, c: MarketingCredential) -> None:
    await connection.execute(
        """INSERT INTO marketing_credential VALUES (1, $1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET
             access_token = excluded.access_token, refresh_token = excluded.refresh_token,
             access_expires_at = excluded.access_expires_at, refresh_expires_at = excluded.refresh_expires_at,
             advertiser_ids = excluded.advertiser_ids, scopes = excluded.scopes,
             connected_at = excluded.connected_at""",
        c.access_token,
        c.refresh_token,
        c.access_expires_at,
        c.refresh_expires_at,
        list(c.advertiser_ids),
        list(c.scopes),
        c.connected_at,
    )


async def credential(connection: asyncpg.Connection) -> MarketingCredential | None:
    row = await connection.fetchrow("SELECT * FROM marketing_credential")
    if row is None:
        return None
    return MarketingCredential(
        row["access_token"],
        tuple(row["advertiser_ids"]),
        tuple(row["scopes"]),
        row["connected_at"],
        row["access_expires_at"],
        row["refresh_token"],
        row["refresh_expires_at"],
    )


async def create_state(connection: asyncpg.Connection, state_digest: str, now: float, expires_at: float) -> None:
    await connection.execute("DELETE FROM oauth_states WHERE expires_at <= $1", now)
    await connection.execute(
        """INSERT INTO oauth_states VALUES ($1, $2, $3)
           ON CONFLICT (state_digest)
           DO UPDATE SET created_at = excluded.created_at, expires_at = excluded.expires_at""",
        state_digest,
        now,
        expires_at,
    )


async def consume_state(connection: asyncpg.Connection, state_digest: str, now: float) -> bool:
    expires_at = await connection.fetchval(
        "DELETE FROM oauth_states WHERE state_digest = $1 RETURNING expires_at", state_digest
    )
    return expires_at is not None and expires_at > now

"""A throwaway PostgreSQL database per test, on the server at 127.0.0.1:5432 (trust auth here and in CI)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

SERVER = os.environ.get("FORWARDER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _admin(sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(f"{SERVER}/postgres", timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new empty database's URL; dropped afterwards. Skips only outside CI when no server answers."""
    name = f"forwarder_test_{uuid.uuid4().hex[:12]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {SERVER} is required under CI=true: {error}")
        pytest.skip(f"no PostgreSQL at {SERVER}: {error}")
    try:
        yield f"{SERVER}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""The Marketing API connection in the store, on both backends: one credential kept, single-use OAuth states."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from forwarder.settings import StoreSettings
from forwarder.store import Store, make_store
from forwarder.store.marketing import MarketingCredential

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0
CREDENTIAL = MarketingCredential(
    "act.secret-token-1", ("7002238017842757633", "7002238017842757634"), ("1", "4", "8"), NOW
)


async def test_a_saved_credential_reads_back_whole_and_survives_a_reopen(store: Store, store_url: str) -> None:
    assert await store.marketing_credential() is None
    await store.save_marketing_credential(CREDENTIAL)
    assert await store.marketing_credential() == CREDENTIAL
    await store.close()
    reopened = make_store(StoreSettings(url=store_url))
    await reopened.open()
    try:
        assert await reopened.marketing_credential() == CREDENTIAL
    finally:
        await reopened.close()
        await store.open()  # the fixture closes it


async def test_a_new_credential_replaces_the_old_with_its_refresh_token_and_expiries(store: Store) -> None:
    await store.save_marketing_credential(CREDENTIAL)
    newer = MarketingCredential("act.secret-token-2", ("1",), (), NOW + 60, NOW + 86400, "rft.secret", NOW + 9e6)
    await store.save_marketing_credential(newer)
    assert await store.marketing_credential() == newer


async def test_delete_forgets_the_credential_once(store: Store) -> None:
    await store.save_marketing_credential(CREDENTIAL)
    assert await store.delete_marketing_credential() is True
    assert await store.marketing_credential() is None
    assert await store.delete_marketing_credential() is False


async def test_an_oauth_state_is_good_once_and_only_before_it_expires(store: Store) -> None:
    await store.create_oauth_state("digest-a", NOW, NOW + 600)
    await store.create_oauth_state("digest-b", NOW, NOW + 600)
    assert await store.consume_oauth_state("digest-a", NOW + 1) is True
    assert await store.consume_oauth_state("digest-a", NOW + 2) is False  # single use
    assert await store.consume_oauth_state("unknown", NOW + 2) is False
    assert await store.consume_oauth_state("digest-b", NOW + 600) is False  # expired
    await store.create_oauth_state("digest-c", NOW, NOW + 600)
    assert await store.consume_oauth_state("digest-c", NOW + 599) is True


async def test_expired_states_are_forgotten_when_new_ones_are_made(store: Store) -> None:
    await store.create_oauth_state("old", NOW, NOW + 600)
    await store.create_oauth_state("new", NOW + 601, NOW + 1201)
    query = getattr(store, "query", None)
    if query is not None:  # SQLite: look at the table itself
        assert [row[0] for row in await query("SELECT state_digest FROM oauth_states")] == ["new"]
    assert await store.consume_oauth_state("old", NOW) is False  # gone, even asked with an earlier clock


def test_the_credential_never_shows_its_tokens_in_repr() -> None:
    text = repr(MarketingCredential("act.secret", ("1",), (), NOW, refresh_token="rft.secret"))
    assert "secret" not in text and "advertiser_ids=('1',)" in text


def test_the_sqlite_file_keeps_the_credential_only_for_its_owner(tmp_path: Path) -> None:
    import anyio

    async def save() -> None:
        store = make_store(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
        await store.open()
        await store.save_marketing_credential(CREDENTIAL)
        await store.close()

    anyio.run(save)
    assert (tmp_path / "store.db").stat().st_mode & 0o077 == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as connection:
        assert connection.execute("SELECT count(*) FROM marketing_credential").fetchone() == (1,)

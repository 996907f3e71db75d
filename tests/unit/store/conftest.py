"""The store contract runs on both backends: `store` (and its older name `any_store`) is opened on `store_url`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from forwarder.settings import StoreSettings
from forwarder.store import Store, make_store


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = make_store(StoreSettings(url=store_url))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def any_store(store: Store) -> Store:
    return store

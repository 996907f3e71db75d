"""The store contract runs on both backends: `store` here is the root `any_store`, opened on `store_url`."""

from __future__ import annotations

import pytest

from forwarder.store import Store


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store

"""The delivery loop's rate limit per destination: a token bucket on both stores, wherever the store keeps it."""

from __future__ import annotations

import pytest

from forwarder.store import Store

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


async def test_delivery_token_bucket_allows_the_burst_then_the_rate(store: Store) -> None:
    waits = [await store.take_delivery_token("d", 2.0, 2.0, NOW) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] == pytest.approx(0.5)
    assert await store.take_delivery_token("d", 2.0, 2.0, NOW + 0.25) == pytest.approx(0.25)
    assert await store.take_delivery_token("d", 2.0, 2.0, NOW + 0.5) == 0.0
    assert await store.take_delivery_token("d", 2.0, 2.0, NOW + 0.5) == pytest.approx(0.5)
    assert await store.take_delivery_token("other", 2.0, 2.0, NOW) == 0.0  # per destination

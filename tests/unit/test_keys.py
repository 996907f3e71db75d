"""`keys.py`: ingest keys kept as digests, rotated keys and `key_sha256` entries all open the door."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import event
from tests.unit.conftest import bearer, client_for


def test_rotated_keys_and_hashed_keys_all_work(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"key-three").hexdigest()
    with client_for(tmp_path, key_sha256=[digest]) as client:
        for key in ("key-one", "key-two", "key-three"):
            assert client.post("/v1/events", json=event(event_id=key), headers=bearer(key)).status_code == 202
        assert client.post("/v1/events", json=event(), headers=bearer(digest)).status_code == 401

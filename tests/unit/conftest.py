"""Helpers and fixtures the unit tests of several packages share (the root conftest has the app's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import respx
from starlette.testclient import TestClient

from tests.conftest import make_settings, open_client


def client_for(tmp_path: Path, **source: Any) -> TestClient:
    """The app with one source, `app` (keys `key-one` and `key-two`, plus `source`), and delivery off."""
    settings = make_settings(
        tmp_path, sources={"app": {"keys": ["key-one", "key-two"], **source}}, delivery={"enabled": False}
    )
    return open_client(settings, respx.Router())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}

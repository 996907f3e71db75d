"""Fixtures the mapping tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

TABLE = """
deny = ["debug-ping"]
[events]
START_TRIAL = "StartTrial"
DEBUG_PING = "Login"
[[events.SUBSCRIPTION]]
event = "Subscribe"
when = { "properties.paid" = true }
[[events.CUSTOM]]
event = "Purchase"
properties = { value = "extras.amount" }
"""


@pytest.fixture
def settings_values(tmp_path: Path) -> dict[str, Any]:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "default.toml").write_text(TABLE)
    (mappings / "web.toml").write_text((REPO / "mappings" / "web.toml").read_text())
    return {"mappings_dir": mappings}

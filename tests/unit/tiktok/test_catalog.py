"""TikTok's standard event names per event source (`catalog.py`), spelt as TikTok spells them."""

from __future__ import annotations

import time
from pathlib import Path

from forwarder.tiktok.catalog import load_catalog
from forwarder.tiktok.event_names import check_event_name
from tests.unit.tiktok.conftest import bodies


def test_page_view_is_spelt_as_tiktok_spells_it(tmp_path: Path) -> None:
    catalog = load_catalog()
    assert catalog.is_standard("web", "Pageview") and not catalog.is_standard("web", "PageView")
    raw = {"event": "PAGE_VIEW", "timestamp": int(time.time())}
    assert bodies(tmp_path, raw, page_url="https://shop.example.com/")["web_main"]["event"] == "Pageview"
    problem = check_event_name("web.toml", "events.PAGE_VIEW", "PageView", "web", "web_main")
    assert problem is not None and problem.level == "error" and "'Pageview'" in problem.reason

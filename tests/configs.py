"""The config files system tests hand to `forwarder serve`, written in one place.

In-process tests build `Settings` with `conftest.make_settings`; a real process needs a file, and this writes it:
one app source and one app destination named `app`, the repository's mapping tables, no file watching. Each
section takes extra TOML lines for what a test varies.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import REPO


def service_config(
    path: Path,
    *,
    port: int,
    tiktok_url: str,
    store_url: str,
    key: str,
    token: str,
    server: str = "",
    delivery: str = "",
    destination: str = "",
) -> Path:
    path.write_text(f"""
mappings_dir = "{REPO / "mappings"}"
watch_config = false
[server]
port = {port}
{server}
[store]
url = "{store_url}"
[delivery]
{delivery}
[tiktok]
base_url = "{tiktok_url}"
[sources.app]
keys = ["{key}"]
[destinations.app]
event_source = "app"
event_source_id = "111"
access_token = "{token}"
{destination}
""")
    return path

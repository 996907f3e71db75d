"""The config files that `forwarder` commands and real processes get in tests and benchmarks, written in one place.

In-process tests build `Settings` with `conftest.make_settings`; a command or a real process needs a file:

- `service_config` renders one from keyword sections: top-level settings, `[server]`, `[store]`, `[delivery]`,
  `[tiktok]`, `[emulator]`, `[sources.*]` and `[destinations.*]` by name, then any other table by its name. A
  section is TOML text, a dict, or a list of both (a dict, then the extra TOML a test varies); a section with
  nothing in it is not written. `key` and `token` are the short way to the usual pair: source `app` with that
  key, destination `app` (an app event source) with that token.
- `example_config` writes config.example.toml as a user edits it, next to a copy of the repository's tables.

bench/ imports this module too (it has no test dependencies).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"

Part: TypeAlias = str | Mapping[str, Any]
Section: TypeAlias = Part | Sequence[Part]


def service_config(
    path: Path,
    *,
    port: int | None = None,
    store_url: str | None = None,
    tiktok_url: str | None = None,
    embedded_emulator: bool = False,
    mappings_dir: Path | str = REPO / "mappings",
    watch_config: bool | None = False,
    top_level: Section = "",
    server: Section = "",
    store: Section = "",
    delivery: Section = "",
    tiktok: Section = "",
    emulator: Section = "",
    key: str | None = None,
    token: str | None = None,
    destination: Section = "",
    sources: Mapping[str, Section] | None = None,
    destinations: Mapping[str, Section] | None = None,
    tables: Mapping[str, Section] | None = None,
    extra: str = "",
) -> Path:
    """Write a service config to `path`. `embedded_emulator` serves TikTok's stand-in on `port` and points at it;
    `watch_config=None` leaves the setting out (its default); `destination` is extra TOML for `token`'s destination."""
    if embedded_emulator:
        assert port is not None and tiktok_url is None, "the embedded emulator is on the service's own port"
        tiktok_url = f"http://127.0.0.1:{port}/_emulator"
    if key is not None:
        sources = {"app": {"keys": [key]}, **(sources or {})}
    if token is not None:
        app = {"event_source": "app", "event_source_id": "111", "access_token": token}
        destinations = {"app": [app, destination], **(destinations or {})}
    top: dict[str, Any] = {"mappings_dir": mappings_dir}
    if watch_config is not None:
        top["watch_config"] = watch_config
    sections = [
        _render([top, top_level]),
        _table("server", [{"port": port} if port is not None else {}, server]),
        _table("store", [{"url": store_url} if store_url is not None else {}, store]),
        _table("delivery", delivery),
        _table("tiktok", [{"base_url": tiktok_url} if tiktok_url is not None else {}, tiktok]),
        _table("emulator", [{"enabled": True} if embedded_emulator else {}, emulator]),
        *(_table(f"sources.{name}", section) for name, section in (sources or {}).items()),
        *(_table(f"destinations.{name}", section) for name, section in (destinations or {}).items()),
        *(_table(name, section) for name, section in (tables or {}).items()),
        extra.strip(),
    ]
    path.write_text("\n".join(section for section in sections if section) + "\n")
    return path


def example_config(
    tmp: Path, *, replace: Mapping[str, str] | None = None, extra: str = "", as_written: bool = False
) -> Path:
    """config.example.toml as `tmp/config.toml`, its text edited by `replace` (each must be found) and `extra`
    appended, with the repository's mapping tables copied to `tmp/mappings` (which `mappings_dir` names, unless
    `as_written`: then the example's relative paths stay, for a process run in `tmp`)."""
    shutil.copytree(REPO / "mappings", tmp / "mappings")
    edits = {} if as_written else {'mappings_dir = "mappings"': f'mappings_dir = "{tmp / "mappings"}"'}
    text = EXAMPLE.read_text()
    for old, new in {**edits, **(replace or {})}.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "config.toml"
    path.write_text(text + extra)
    return path


def _table(header: str, section: Section) -> str:
    body = _render(section)
    return f"[{header}]\n{body}" if body else ""


def _render(section: Section) -> str:
    if isinstance(section, str):
        return section.strip()
    if isinstance(section, Mapping):
        return "\n".join(f"{_key(key)} = {_value(value)}" for key, value in section.items())
    return "\n".join(text for text in map(_render, section) if text)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items()) + " }"
    return "[" + ", ".join(_value(item) for item in value) + "]"

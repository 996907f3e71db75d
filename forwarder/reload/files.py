"""The config file and every mapping table as bytes, read until two reads a settle interval apart are equal.

An editor that saves in place writes a file in pieces, and a read between two pieces can see a first half that is
valid TOML but lacks rules: live, it dropped acknowledged events as unmapped (issue 12, item 7). A reload parses
only content it has seen stay the same for `reload_settle_s`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from ..mapping.check import check_settings_file

log = structlog.get_logger(__name__)
GIVE_UP_S = 30.0  # files still changing after this long: refuse this reload (the next change triggers another)


@dataclass(frozen=True)
class ConfigFiles:
    config: bytes | None  # None: no config file, or none there at the moment of reading
    mappings_dir: Path
    tables: dict[Path, bytes]  # every *.toml in mappings_dir


def read_files(config_file: Path | None, fallback_dir: Path) -> ConfigFiles:
    """One read of everything; the mapping directory is the one the config file names, else `fallback_dir`."""
    config = _read(config_file) if config_file is not None else None
    directory = fallback_dir
    if config_file is not None and config is not None:
        settings, _ = check_settings_file(config_file, config)
        directory = settings.mappings_dir if settings is not None else fallback_dir
    tables = {}
    if directory.is_dir():
        for path in sorted(directory.glob("*.toml")):
            if (raw := _read(path)) is not None:  # a file renamed away between listing and reading is left out
                tables[path] = raw
    return ConfigFiles(config, directory, tables)


async def read_settled(config_file: Path | None, fallback_dir: Path, settle_s: float) -> ConfigFiles | None:
    """The files once two reads `settle_s` apart are equal; None when they kept changing for GIVE_UP_S."""
    deadline = time.monotonic() + GIVE_UP_S
    before = read_files(config_file, fallback_dir)
    while True:
        await asyncio.sleep(settle_s)
        after = read_files(config_file, fallback_dir)
        if after == before:
            return after
        if time.monotonic() > deadline:
            return None
        changed = sorted(
            str(p) for p in set(before.tables) | set(after.tables) if before.tables.get(p) != after.tables.get(p)
        )
        log.info(
            "config.reload_waiting",
            reason="files still changing",
            changed=changed,
            config=before.config != after.config,
        )
        before = after


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None

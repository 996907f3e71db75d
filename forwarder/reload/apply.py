"""Apply edited settings and mapping tables without a restart, all or nothing.

A reload reads every file until it stays unchanged for `reload_settle_s` (files.py), then validates the
config file and every mapping table; any error refuses the whole reload and the running snapshot keeps serving. So
does a reload that would stop mapping an inbound event name traffic used in the last hour (mapping/traffic.py), unless
forced. Ingest takes one snapshot per request, so no event is mapped half-old, half-new.
Triggers: the file watcher, SIGHUP, `POST /v1/admin/reload` (`forwarder reload`), and a peer worker's reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import structlog
import watchfiles

from ..logs import scrubber
from ..mapping.check import Problem, check_mappings, check_settings_file
from ..mapping.planning import Routing
from ..mapping.tables import MappingTable
from ..mapping.traffic import names_dropped
from ..runtime import Runtime
from ..settings import Settings
from ..setup_check import check_setup
from ..tiktok.builder import TikTokPayloads
from ..tiktok.event_names import check_event_name
from .files import GIVE_UP_S, ConfigFiles, read_settled

log = structlog.get_logger(__name__)
# Settings a running process cannot take over: they keep their old value until a restart.
_RESTART_ONLY = ("server", "store", "emulator")


async def reload_config(runtime: Runtime, trigger: str, *, force: bool = False) -> dict[str, Any]:
    """Re-read the config file and mapping tables; swap them in if they are valid (and, unless `force`, drop no
    event name in use). The outcome is also kept."""
    async with runtime.reload_lock:
        current = runtime.settings
        files = await read_settled(runtime.config_file, current.mappings_dir, current.reload_settle_s)
        result = _reload(runtime, trigger, files, force)
        runtime.last_reload = result
        runtime.metrics.count_reload(result)
        return result


def _reload(runtime: Runtime, trigger: str, files: ConfigFiles | None, force: bool) -> dict[str, Any]:
    now = runtime.clock()
    settings: Settings | None
    tables: dict[str, MappingTable] = {}
    needs_restart: list[str] = []
    if files is None:
        where = str(runtime.config_file or runtime.settings.mappings_dir)
        settings, problems = None, [Problem("error", where, "", f"files kept changing for {GIVE_UP_S:g} s")]
    elif runtime.config_file is not None:
        settings, problems = check_settings_file(runtime.config_file, files.config)
    else:
        settings, problems = runtime.settings, []
    if settings is not None and files is not None:
        settings, needs_restart = _keep_restart_only(runtime.settings, settings)
        contents = files.tables if files.mappings_dir == settings.mappings_dir else None
        tables, more = check_mappings(settings, contents, check_event_name=check_event_name)
        problems += more + check_setup(settings)  # a placeholder must not go live by reload either
    errors = [p for p in problems if p.level == "error"]
    outcome: dict[str, Any] = {
        "at": now,
        "trigger": trigger,
        "ok": not errors,
        "force": force,
        "problems": [{"level": p.level, "file": p.file, "key": p.key, "reason": p.reason} for p in problems],
        "needs_restart": needs_restart,
    }
    if errors or settings is None:
        outcome["refused"] = "invalid"
        log.error("config.reload_refused", trigger=trigger, reason="invalid", errors=[str(p) for p in errors])
        return outcome
    candidate = Routing(settings, tables, TikTokPayloads())
    dropped = names_dropped(runtime.routing, candidate, runtime.recent_names.in_use(now))
    if dropped and not force:
        outcome.update(
            ok=False,
            refused="would_stop_mapping",
            dropped=dropped,
            message="the new config would stop mapping event names traffic used in the last hour; "
            "fix the tables, or force the reload (`forwarder reload --force`)",
        )
        log.warning("config.reload_refused", trigger=trigger, reason="would_stop_mapping", dropped=dropped)
        return outcome
    before = {name: table.label for name, table in runtime.routing.tables.items()}
    scrubber.extend(settings.secrets())  # before anything can use a new token or key
    runtime.snapshot = snapshot = runtime.snapshot_of(settings, candidate, now)
    if runtime.worker is not None:
        runtime.worker.follow(snapshot.destinations, settings.delivery)
        runtime.wake_delivery()
    after = {name: table.label for name, table in tables.items()}
    outcome["mappings"] = after
    if dropped:
        outcome["dropped"] = dropped
    log.info(
        "config.reloaded",
        trigger=trigger,
        mappings=after,
        changed=sorted(name for name in after if before.get(name) != after[name]),
        destinations=sorted(settings.destinations),
        needs_restart=needs_restart,
        forced_drops=dropped,
    )
    return outcome


def _keep_restart_only(current: Settings, new: Settings) -> tuple[Settings, list[str]]:
    changed = [name for name in _RESTART_ONLY if getattr(current, name) != getattr(new, name)]
    if changed:
        new = new.model_copy(update={name: getattr(current, name) for name in changed})
    return new, changed


def _watched_paths(runtime: Runtime) -> list[Path]:
    paths = {runtime.settings.mappings_dir.resolve()}
    if runtime.config_file is not None:
        paths.add(runtime.config_file.resolve().parent)  # the directory: editors replace files by renaming
    return sorted(path for path in paths if path.exists())


async def watch_config(runtime: Runtime, stop: asyncio.Event) -> None:
    """Reload when the config file or a mapping table changes on disk."""
    config = runtime.config_file.resolve() if runtime.config_file else None
    mappings = runtime.settings.mappings_dir.resolve()

    def relevant(change: watchfiles.Change, path: str) -> bool:
        changed = Path(path)
        return changed == config or (changed.suffix == ".toml" and changed.parent == mappings)

    paths = _watched_paths(runtime)
    if not paths:
        return
    async for _ in watchfiles.awatch(*paths, watch_filter=relevant, stop_event=stop, debounce=200, step=50):
        await reload_config(runtime, "file_change")


def install_sighup(runtime: Runtime) -> bool:
    """Reload on SIGHUP; only possible when the event loop runs in the main thread (as under `forwarder serve`)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def on_hangup() -> None:
        task = loop.create_task(reload_config(runtime, "sighup"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
        return True
    return False

"""Validate settings and mapping tables together; used at startup and by `forwarder check`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import ValidationError

from ..errors import MappingError
from ..problems import Problem
from ..settings import Settings, config_file_in_use, load_settings
from ..settings_problems import settings_problems, usable_settings
from ..setup_check import check_setup
from .audience_check import audience_problems
from .tables import MappingTable, load_mappings, load_table

__all__ = ["EventNameCheck", "Problem", "check_all", "check_mappings", "check_settings_file"]

# The destination kind's verdict on a mapped name (file, key, event, event source, destination name),
# e.g. tiktok/event_names.py: whoever calls the checks hands it in.
EventNameCheck = Callable[[str, str, str, str, str], Problem | None]


def check_settings_file(
    config_file: Path | None, content: bytes | None = None
) -> tuple[Settings | None, list[Problem]]:
    """Settings from the file (or `content`, the file as read) and environment, or the problems that stop them."""
    where = str(config_file_in_use(config_file) or "(environment)")
    try:
        return load_settings(config_file, content=content), []
    except FileNotFoundError as error:
        return None, [Problem("error", where, "", str(error))]
    except ValidationError as error:
        return None, settings_problems(error, where)
    except ValueError as error:  # TOML syntax errors surface as ValueError (tomllib.TOMLDecodeError)
        return None, [Problem("error", where, "", f"invalid TOML: {error}")]


def check_mappings(
    settings: Settings, contents: Mapping[Path, bytes] | None = None, *, check_event_name: EventNameCheck
) -> tuple[dict[str, MappingTable], list[Problem]]:
    """The mapping tables (from disk, or `contents`: the files as read) and what is wrong with them."""
    problems: list[Problem] = []
    try:
        tables = load_mappings(settings.mappings_dir, contents)
    except MappingError as error:
        tables, problems = _tables_one_by_one(settings.mappings_dir, contents, error)
    broken = {Path(problem.file).stem for problem in problems}
    for name, destination in settings.destinations.items():
        table = tables.get(destination.mapping)
        if table is None and destination.mapping in broken:
            continue  # the table's own problems are reported above
        if table is None:
            problems.append(
                Problem(
                    "error",
                    "config",
                    f"destinations.{name}.mapping",
                    f"no mapping table {destination.mapping!r} in {settings.mappings_dir} "
                    f"(have: {', '.join(sorted(tables))})",
                )
            )
            continue
        if destination.event_source == "offline" and (destination.unmapped or table.unmapped) == "custom":
            problems.append(
                Problem(
                    "error",
                    "config",
                    f"destinations.{name}.unmapped",
                    f"is 'custom' (here or in mapping table {table.name!r}), but offline event sets take standard "
                    'events only: TikTok refuses custom names; use unmapped = "drop"',
                )
            )
        for inbound, rules in table.rules.items():
            for index, rule in enumerate(rules):
                key = f"events.{inbound}" + (f".{index}" if len(rules) > 1 else "")
                problem = check_event_name(str(table.path), key, rule.event, destination.event_source, name)
                if problem is not None:
                    problems.append(problem)
    return tables, problems + audience_problems(settings)


def check_all(
    config_file: Path | None, check_event_name: EventNameCheck
) -> tuple[Settings | None, dict[str, MappingTable], list[Problem]]:
    """Everything wrong with the config and mapping tables at once: after a settings error, the parts of the
    config that are valid on their own are still checked. Settings are None when a settings error was found."""
    settings, problems = check_settings_file(config_file)
    usable = settings or usable_settings(config_file_in_use(config_file))
    if usable is None:
        return None, {}, problems
    if config_file_in_use(config_file) is None and not usable.sources and not usable.destinations:
        problems.append(
            Problem(
                "error",
                "(environment)",
                "",
                "no config: pass --config FILE (a copy of config.example.toml) or set FORWARDER_CONFIG; the "
                "environment alone sets no source and no destination",
            )
        )
    tables, more = check_mappings(usable, check_event_name=check_event_name)
    return (
        settings,
        tables,
        problems + more + check_order_dedup(usable) + check_event_set_ids(usable) + check_setup(usable),
    )


def _tables_one_by_one(
    directory: Path, contents: Mapping[Path, bytes] | None, first: MappingError
) -> tuple[dict[str, MappingTable], list[Problem]]:
    """The tables that load on their own, and a problem for each that does not (not only the first)."""
    files = contents if contents is not None else {p: p.read_bytes() for p in directory.glob("*.toml")}
    if not directory.is_dir() or not files:
        return {}, [Problem("error", first.file, first.key, first.reason)]
    tables, problems = {}, []
    for path, raw in sorted(files.items()):
        try:
            tables[path.stem] = load_table(path, raw)
        except MappingError as error:
            problems.append(Problem("error", error.file, error.key, error.reason))
    return tables, problems


def check_order_dedup(settings: Settings) -> list[Problem]:
    """One-sided order dedup works only in one arrival order: say so, so the operator names both or means it."""
    return [
        Problem(
            "warning",
            "config",
            f"sources.{name}.dedup_orders_with",
            f"names {other!r}, which does not name {name!r}: an order {name!r} reports first is sent again when "
            f"{other!r} reports it (add {name!r} to sources.{other}.dedup_orders_with to send it once)",
        )
        for name, source in settings.sources.items()
        for other in source.dedup_orders_with
        if other != name and name not in settings.sources[other].dedup_orders_with
    ]


def check_event_set_ids(settings: Settings) -> list[Problem]:
    """Offline and CRM event set IDs are numeric; a pixel code there is answered 40002 for every event."""
    return [
        Problem(
            "warning",
            "config",
            f"destinations.{name}.event_source_id",
            f"does not look like {_article(destination.event_source)} {destination.event_source} event set ID "
            "(TikTok's are all digits, e.g. 7654321098765432109; Events Manager -> Data sources -> the event set); "
            "a pixel code here gets TikTok's 40002 for every event",
        )
        for name, destination in settings.destinations.items()
        if destination.event_source in ("offline", "crm")
        and not (destination.event_source_id.isascii() and destination.event_source_id.isdigit())
    ]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"

"""Validate settings and mapping tables together; used at startup and by `forwarder check`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from .errors import MappingError
from .mapping import MappingTable, load_mappings
from .settings import Settings, load_settings
from .tiktok.catalog import load_catalog


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.level}: {self.file}: {self.key + ': ' if self.key else ''}{self.reason}"


def check_settings_file(config_file: Path | None) -> tuple[Settings | None, list[Problem]]:
    """Settings from the file and environment, or the problems that stop them loading."""
    where = str(config_file) if config_file else "(environment)"
    try:
        return load_settings(config_file), []
    except FileNotFoundError as error:
        return None, [Problem("error", where, "", str(error))]
    except ValidationError as error:
        return None, [
            Problem("error", where, ".".join(str(p) for p in item["loc"]), item["msg"])
            for item in error.errors(include_url=False)
        ]
    except ValueError as error:  # TOML syntax errors surface as ValueError (tomllib.TOMLDecodeError)
        return None, [Problem("error", where, "", f"invalid TOML: {error}")]


def check_mappings(settings: Settings) -> tuple[dict[str, MappingTable], list[Problem]]:
    try:
        tables = load_mappings(settings.mappings_dir)
    except MappingError as error:
        return {}, [Problem("error", error.file, error.key, error.reason)]
    problems: list[Problem] = []
    catalog = load_catalog()
    for name, destination in settings.destinations.items():
        table = tables.get(destination.mapping)
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
        source = destination.event_source
        for inbound, rule in table.rules.items():
            key = f"events.{inbound}"
            suggestion = catalog.replacement(source, rule.event)
            hint = f"; use {suggestion!r}" if suggestion else ""
            if catalog.is_standard(source, rule.event):
                if suggestion:
                    problems.append(
                        Problem(
                            "warning", str(table.path), key, f"{rule.event!r} is deprecated for {source} events{hint}"
                        )
                    )
            elif any(rule.event in names for names in catalog.standard.values()) or suggestion:
                problems.append(
                    Problem(
                        "error",
                        str(table.path),
                        key,
                        f"{rule.event!r} is not {_article(source)} {source} standard event "
                        f"(destination {name!r}){hint}",
                    )
                )
            else:
                problems.append(_unknown_name_problem(str(table.path), key, rule.event, source, name))
    return tables, problems


def check_all(config_file: Path | None) -> tuple[Settings | None, dict[str, MappingTable], list[Problem]]:
    settings, problems = check_settings_file(config_file)
    if settings is None:
        return None, {}, problems
    tables, more = check_mappings(settings)
    return settings, tables, problems + more


def _unknown_name_problem(file: str, key: str, event: str, source: str, destination: str) -> Problem:
    """A name in no catalogue: a case slip of a standard name is an error, anything else a custom event."""
    standard = load_catalog().standard
    for catalogue_source in (source, *sorted(set(standard) - {source})):
        twin = next((n for n in standard[catalogue_source] if n.lower() == event.lower()), None)
        if twin and catalogue_source == source:
            return Problem("error", file, key, f"{event!r}: event names are case-sensitive; use {twin!r}")
        if twin:
            return Problem(
                "error",
                file,
                key,
                f"{event!r} is not {_article(source)} {source} standard event (it looks like {catalogue_source} event "
                f"{twin!r}, which {source} destinations do not take)",
            )
    return Problem(
        "warning",
        file,
        key,
        f"{event!r} is a custom event for {source} destination {destination!r}: "
        "TikTok reports it but cannot optimise on it",
    )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"

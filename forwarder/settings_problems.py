"""Settings errors in plain words, and the part of a broken config that is still usable for further checks.

pydantic's messages ("Input should be a valid string [type=string_type]", "Value error, ...") speak of the
library, not of the config file; an operator fixing a file needs the key, what it must be, and nothing else.
`usable_settings` lets `forwarder check` go on to the mapping tables and placeholders after a settings error, so
one run reports every problem instead of the first.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

from .problems import Problem
from .settings import Settings

_PLAIN = {
    "missing": "is required but missing",
    "string_type": "must be text in quotes",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": 'must be a list, e.g. ["a", "b"]',
    "dict_type": "must be a table (a [section] or { key = value })",
    "model_type": "must be a table (a [section] or { key = value })",
    "model_attributes_type": "must be a table (a [section] or { key = value })",
    "string_too_short": "must not be empty",
    "path_type": "must be a path in quotes",
}
_BOUNDS = {
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_long": "must be at most {max_length} characters",
    "literal_error": "must be {expected}",
}


def plain_reason(error: ErrorDetails) -> str:
    """What a setting must be, in the words of the config file rather than of pydantic."""
    kind, context = error["type"], error.get("ctx") or {}
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**context)
    if kind == "value_error" and "error" in context:
        return str(context["error"])
    if kind == "extra_forbidden":
        return "is not a setting here"
    return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


def settings_problems(error: ValidationError, where: str) -> list[Problem]:
    """One problem per broken setting; a config-wide error lists one problem per line it holds."""
    problems = []
    for item in error.errors(include_url=False):
        key = ".".join(str(part) for part in item["loc"])
        reason = plain_reason(item)
        if item["type"] == "extra_forbidden":
            reason += _closest(item["loc"])
        if not key and ":" in reason:  # Settings-wide validators name each key on its own line
            for line in reason.splitlines():
                line_key, _, line_reason = line.partition(": ")
                problems.append(Problem("error", where, line_key, line_reason))
            continue
        problems.append(Problem("error", where, key, reason + _from_environment(item["loc"])))
    return problems


def _from_environment(loc: tuple[int | str, ...]) -> str:
    """The environment overrides the file: say so when the value came from there, or the file looks fine."""
    name = "FORWARDER_" + "__".join(str(part) for part in loc).upper()
    found = any(variable.upper() == name for variable in os.environ)
    return f" (set by {name} in the environment)" if loc and found else ""


def _closest(loc: tuple[int | str, ...]) -> str:
    """`prot` in [server]: did you mean `port`? The known names come from the section's model."""
    model: type[BaseModel] = Settings
    parts = [str(part) for part in loc[:-1]]
    while parts:
        field = model.model_fields.get(parts.pop(0))
        annotation = field.annotation if field is not None else None
        if get_origin(annotation) is dict:  # sources.NAME, destinations.NAME: skip the entry's own name
            annotation = get_args(annotation)[1]
            parts = parts[1:]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    names = list(model.model_fields)
    found = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f" (did you mean {found[0]!r}?)" if found else f" (known: {', '.join(names)})"


def usable_settings(config_file: Path | None, content: bytes | None = None) -> Settings | None:
    """Settings built from every part of the config that is valid on its own; broken parts fall back to their
    defaults (a section) or are left out (a source or destination). None when the file cannot be read at all."""
    if config_file is not None and content is None and not config_file.is_file():
        return None
    try:
        merged = _merged_input(config_file, content)
    except (OSError, ValueError):  # unreadable, or not TOML (already reported)
        return None
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        if name not in merged or field.annotation is None:
            continue
        if name in ("sources", "destinations") and isinstance(merged[name], dict):
            entry: TypeAdapter[Any] = TypeAdapter(get_args(field.annotation)[1])
            values[name] = {key: parsed for key, raw in merged[name].items() if (parsed := _valid(entry, raw))}
            continue
        parsed = _valid(TypeAdapter(field.annotation), merged[name])
        if parsed is not None:
            values[name] = parsed
    for source in values.get("sources", {}).values():  # references to what was left out must not dangle
        known = values.get("destinations", {})
        if source.destinations is not None:
            source.destinations = [d for d in source.destinations if d in known]
        source.dedup_orders_with = [s for s in source.dedup_orders_with if s in values["sources"]]
    return Settings.model_construct(**values)


def _valid(adapter: TypeAdapter[Any], raw: Any) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError:
        return None


def _merged_input(config_file: Path | None, content: bytes | None) -> dict[str, Any]:
    """The config file under the environment, as Settings sees them (FORWARDER_* wins over the file)."""
    base: dict[str, Any] = {}
    if content is not None:
        base = tomllib.loads(content.decode("utf-8"))
    elif config_file is not None:
        base = TomlConfigSettingsSource(Settings, toml_file=config_file)()
    return _deep_merge(base, EnvSettingsSource(Settings)())


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged

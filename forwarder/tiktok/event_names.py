"""Whether a mapped event name suits a TikTok destination of one event source, against TikTok's catalogue."""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..problems import Problem
from .catalog import EVENT_SOURCES, load_catalog


def native_names(event_source: str) -> Callable[[str], bool]:
    """Whether a name is a TikTok standard event of `event_source`: such a name needs no mapping rule."""
    return functools.partial(load_catalog().is_standard, event_source)


def check_event_name(file: str, key: str, event: str, source: str, destination: str) -> Problem | None:
    """Whether `event` suits a destination of `source`: errors for wrong-source names, warnings for the rest."""
    catalog = load_catalog()
    suggestion = catalog.replacement(source, event)
    hint = f"; use {suggestion!r}" if suggestion else ""
    if catalog.is_standard(source, event):
        if suggestion:
            return Problem("warning", file, key, f"{event!r} is deprecated for {source} events{hint}")
        return None
    if source == "offline" and catalog.is_standard("web", event) and not suggestion:
        # TikTok's reference says offline takes the web standard events; its help centre lists fewer for offline.
        return Problem(
            "warning",
            file,
            key,
            f"{event!r} is a web standard event TikTok does not list for offline event sets (destination "
            f"{destination!r}): TikTok may not count it",
        )
    if any(event in names for names in catalog.standard.values()) or suggestion:
        message = f"{event!r} is not {_article(source)} {source} standard event (destination {destination!r}){hint}"
        return Problem("error", file, key, message)
    return _unknown_name_problem(file, key, event, source, destination)


def _unknown_name_problem(file: str, key: str, event: str, source: str, destination: str) -> Problem:
    """A name in no catalogue: a case slip of a standard name is an error, anything else a custom event."""
    standard = load_catalog().standard
    for catalogue_source in (source, *(other for other in EVENT_SOURCES if other != source)):
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
    if source == "offline":
        return Problem(
            "error",
            file,
            key,
            f"{event!r} is not a TikTok standard event, and offline event sets take standard events only "
            f"(destination {destination!r}; e.g. 'Purchase', 'Contact', 'Subscribe', 'Lead')",
        )
    if source == "crm":
        return Problem(
            "warning",
            file,
            key,
            f"{event!r} is a custom event for crm destination {destination!r}: map it to a standard event in "
            "TikTok Events Manager (Data sources -> your CRM event set) so campaigns can optimise on it",
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

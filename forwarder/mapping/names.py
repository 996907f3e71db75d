"""Event names as people write them: `purchase`, `Purchase`, `PURCHASE`, `start-trial`, `Start Trial` and
`StartTrial` are one name, `start_trial`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

# A word starts at an upper-case letter after a lower-case letter or digit (`startTrial`, `level2Up`), and at the
# last capital of a run followed by a lower-case letter (`HTTPRequest` -> `http_request`): so `InAppADClick` and
# `IN_APP_AD_CLICK`, `LaunchAPP` and `LAUNCH_APP` agree. Digits do not start a word (`level2` stays one).
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_\-]+")


@lru_cache(maxsize=4096)  # names come from clients: bounded, and the hot path pays one dict lookup per event
def normalise_name(name: str) -> str:
    """The key two spellings of one event name share: words split at case changes and separators, lower-cased."""
    return _SEPARATORS.sub("_", _WORD_START.sub("_", name.strip())).strip("_").lower()


def name_index(names: Iterable[str]) -> dict[str, str]:
    """Normalised name -> the name as written; the first spelling wins (`collisions` finds the others)."""
    index: dict[str, str] = {}
    for name in names:
        index.setdefault(normalise_name(name), name)
    return index


def collisions(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of names written differently that normalise to one name (`START_TRIAL` and `StartTrial`)."""
    first: dict[str, str] = {}
    found = []
    for name in names:
        other = first.setdefault(normalise_name(name), name)
        if other != name:
            found.append((other, name))
    return found


def find(index: Mapping[str, str], name: str) -> str | None:
    """The name as written in `index` that `name` matches, or None."""
    return index.get(normalise_name(name))

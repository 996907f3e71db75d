"""Attribution-platform postbacks: each adapter turns a platform's own payload into our inbound event.

An adapter is a function `(payload, source settings) -> Converted`: the inbound event (our `/v1/events` format),
or why the postback is skipped (a test notification, an unattributed event on an attributed-only source, an
event outside the postback window). The platform's fields are read by their documented names; each module cites
the documentation it follows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..settings import SourceSettings

_PLACEHOLDER = re.compile(r"\{[A-Za-z0-9_.]+\}")  # e.g. Adjust's `{idfa}`, left in when it has no value


@dataclass
class Converted:
    event: dict[str, Any] | None = None
    skipped: str | None = None  # why nothing is forwarded (answered 200, so the platform does not retry)
    attributed: bool | None = None  # None: the platform does not say
    install_time: float | None = None  # Unix seconds, when the platform gives it
    notes: list[str] = field(default_factory=list)


Adapter = Callable[[dict[str, Any], SourceSettings], Converted]


def present(value: Any) -> Any:
    """None for the values platforms send to mean nothing: null, "", "None", an unsubstituted `{placeholder}`."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or text in ("None", "null", "NULL", "undefined") or _PLACEHOLDER.fullmatch(text):
            return None
        return text
    return value


def compact(document: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values, recursively, so the event carries only what the platform really sent."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            value = compact(value)
            if not value:
                continue
        elif present(value) is None:
            continue
        out[key] = value
    return out


def adapters() -> dict[str, Adapter]:
    from . import adjust, appsflyer, branch, generic, revenuecat

    return {
        "appsflyer": appsflyer.convert,
        "adjust": adjust.convert,
        "branch": branch.convert,
        "revenuecat": revenuecat.convert,
        "generic": generic.convert,
    }

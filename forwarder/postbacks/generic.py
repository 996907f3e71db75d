"""A platform we have no adapter for, wired by configuration: a table from our inbound fields to paths in the
platform's JSON body or query string.

    [sources.partner]
    kind = "generic"
    fields = { event = "type", event_id = "id", timestamp = "ts", "user.email" = "customer.email",
               "properties.value" = "amount", "properties.currency" = "cur", "app.id" = "bundle" }

A GET callback with a URL template such as `?e={event}&t={time}` is the same table over query parameters:
`fields = { event = "e", timestamp = "t" }`.
"""

from __future__ import annotations

from typing import Any

from ..errors import PostbackError
from ..mapping.tables import lookup
from ..settings import SourceSettings
from . import Converted, compact, present


def convert(payload: dict[str, Any], source: SourceSettings) -> Converted:
    if not source.fields:
        raise PostbackError("fields", "a generic source needs a `fields` table in its config")
    event: dict[str, Any] = {}
    for target, path in source.fields.items():
        value = present(lookup(payload, path))
        if value is None:
            continue
        node = event
        *parents, leaf = target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if "event" not in event:
        raise PostbackError(source.fields.get("event", "event"), "is required (the event name)")
    if source.app_id:
        event.setdefault("app", {}).setdefault("id", source.app_id)
    return Converted(event=compact(event))

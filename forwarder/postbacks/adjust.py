"""Adjust real-time server callbacks: GET (or POST) with the placeholders you put in the callback URL.

Placeholders from https://help.adjust.com/en/article/event-callbacks, /install-callbacks and
/ad-revenue-callbacks: `{activity_kind}` (`install`, `session`, `event`, ...), `{event_name}`, `{event}` (the
event token), `{created_at}` (Unix seconds, UTC), `{installed_at}`, `{gps_adid}`, `{idfa}`, `{idfv}`, `{adid}`,
`{ip_address}`, `{user_agent}`, `{app_name}`, `{app_version}`, `{os_name}`, `{revenue_float}` (whole units),
`{revenue}` (cents), `{currency}` (lower case), `{tracker_name}` (`Organic` when unattributed). Placeholders
with no data are dropped from the URL; an unsubstituted `{placeholder}` is treated as missing. Callbacks carry
no event id: ours is derived from `adid` + the event token (or name) + `created_at`.

Suggested callback URL (the key is ours; Adjust documents no callback authentication):
https://forwarder.example.com/v1/postbacks/adjust?key=INGEST_KEY&activity_kind={activity_kind}&event={event}
&event_name={event_name}&created_at={created_at}&installed_at={installed_at}&gps_adid={gps_adid}&idfa={idfa}
&idfv={idfv}&adid={adid}&ip_address={ip_address}&user_agent={user_agent}&app_version={app_version}
&os_name={os_name}&revenue_float={revenue_float}&currency={currency}&tracker_name={tracker_name}
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ..errors import PostbackError
from ..settings import SourceSettings
from . import Converted, compact, present

ACTIVITY_NAMES = {"install": "INSTALL_APP", "session": "LAUNCH_APP", "reattribution": "REATTRIBUTION"}


def _seconds(value: Any, field: str) -> float | None:
    text = present(value)
    if text is None:
        return None
    try:
        seconds = float(text)
    except (TypeError, ValueError):  # TypeError: an object or a list where Adjust sends a number
        raise PostbackError(field, "must be Unix seconds") from None
    if not math.isfinite(seconds):
        raise PostbackError(field, "must be Unix seconds")
    return seconds


def convert(payload: dict[str, Any], source: SourceSettings) -> Converted:
    kind = str(present(payload.get("activity_kind")) or "event").lower()
    name = present(payload.get("event_name")) or present(payload.get("event"))
    if kind == "event" and name is None:
        raise PostbackError("event_name", "is required for an event callback (or the `event` token)")
    event_name = ACTIVITY_NAMES.get(kind, kind.upper()) if kind != "event" else str(name)
    created_at = _seconds(payload.get("created_at"), "created_at")
    if created_at is None:
        raise PostbackError("created_at", "is required")
    value: Any = present(payload.get("revenue_float"))
    if value is None and present(payload.get("revenue")) is not None:
        try:
            value = float(payload["revenue"]) / 100  # Adjust's {revenue} is in cents
        except (TypeError, ValueError):
            raise PostbackError("revenue", "must be a number of cents") from None
    currency = present(payload.get("currency"))
    os_name = str(present(payload.get("os_name")) or "").lower()
    platform = "ios" if os_name == "ios" else "android" if os_name == "android" else None
    identity = f"{present(payload.get('adid')) or ''}|{present(payload.get('event')) or event_name}|{created_at}"
    tracker = present(payload.get("tracker_name"))
    event = compact(
        {
            "event_id": "adj_" + hashlib.sha256(identity.encode()).hexdigest()[:32],
            "event": event_name,
            "timestamp": created_at,
            "app": {
                "id": source.app_id,
                "name": present(payload.get("app_name")),
                "version": present(payload.get("app_version")),
                "platform": platform,
            },
            "device": {
                "gaid": present(payload.get("gps_adid")),
                "idfa": present(payload.get("idfa")),
                "idfv": present(payload.get("idfv")),
                "ip": present(payload.get("ip_address")),
                "user_agent": present(payload.get("user_agent")),
            },
            "properties": {
                "value": value,
                "currency": currency.upper() if isinstance(currency, str) else currency,
                "order_id": present(payload.get("transaction_id")),
            },
        }
    )
    return Converted(
        event=event,
        attributed=None if tracker is None else str(tracker).split("::")[0].lower() != "organic",
        install_time=_seconds(payload.get("installed_at"), "installed_at"),
    )

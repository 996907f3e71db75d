"""What the lifespan builds and the endpoints share: settings, store, routing snapshot, delivery worker."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .delivery.loop import DeliveryWorker, Wakeups
from .http.auth import KeyRing
from .mapping.not_forwarded import QuietLog
from .mapping.planning import Routing
from .mapping.traffic import RecentNames
from .metrics import Metrics
from .settings import Settings
from .store import Store

if TYPE_CHECKING:
    from .delivery.destination import Destination
    from .reload.peers import ReloadPeers


@dataclass
class Runtime:
    settings: Settings
    store: Store
    routing: Routing
    keyring: KeyRing
    clock: Callable[[], float] = time.time
    wakeups: Wakeups = field(default_factory=Wakeups)
    worker: DeliveryWorker | None = None
    config_file: Path | None = None
    loaded_at: float = field(default_factory=time.time)
    last_reload: dict[str, Any] | None = None  # the outcome of the latest reload attempt
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    metrics: Metrics = field(default_factory=Metrics)
    overloaded: str | None = None  # why ingest refuses new events now (backpressure), or None
    recent_names: RecentNames = field(default_factory=RecentNames)  # event names in use, per destination
    not_forwarded_log: QuietLog = field(default_factory=QuietLog)  # at most a line per name sent nowhere a minute
    reload_peers: ReloadPeers | None = None  # with several workers: how a reload reaches the others
    # Builds the delivery destinations of a settings snapshot (at start and on each reload).
    destinations_for: Callable[[Settings], dict[str, Destination]] | None = None

    def wake_delivery(self, destinations: set[str] | None = None) -> None:
        self.wakeups.wake(destinations)

    def is_delivery_running(self) -> bool:
        if not self.settings.delivery.enabled:
            return True
        return self.worker is not None and self.worker.is_running()

    def config_status(self) -> dict[str, Any]:
        """Which config and mapping versions serve now, and how the last reload went (no secrets)."""
        return {
            "config_file": str(self.config_file) if self.config_file else None,
            "pid": os.getpid(),  # with several workers, which one answered
            "loaded_at": self.loaded_at,
            "mappings": {name: table.label for name, table in sorted(self.routing.tables.items())},
            "last_reload": self.last_reload,
        }

"""What the lifespan builds and the endpoints share: the config snapshot, the store, the delivery worker.

A reload builds a new `Snapshot` and swaps it in with one assignment (`reload/apply.py`); a request reads
`runtime.snapshot` once and sees one config throughout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .audiences.signals import AudienceRules
from .delivery.loop import DeliveryWorker, Wakeups
from .keys import KeyRing
from .mapping.not_forwarded import QuietLog
from .mapping.planning import Routing
from .mapping.traffic import RecentNames
from .metrics import Metrics
from .settings import Settings
from .store import Store

if TYPE_CHECKING:
    from .audiences.gauges import AudienceGauges
    from .audiences.sync import AudienceSync
    from .delivery.destination import Destination
    from .marketing.connection import Connection
    from .reload.peers import ReloadPeers
    from .reporting.puller import ReportPuller


@dataclass(frozen=True)
class Snapshot:
    """Everything a reload replaces: settings, routing, key ring, destinations, and when they were loaded."""

    settings: Settings
    routing: Routing
    keyring: KeyRing
    destinations: Mapping[str, Destination]
    loaded_at: float
    audience_rules: AudienceRules = field(default_factory=lambda: AudienceRules({}))


@dataclass
class Runtime:
    snapshot: Snapshot
    store: Store
    clock: Callable[[], float] = time.time
    wakeups: Wakeups = field(default_factory=Wakeups)
    worker: DeliveryWorker | None = None
    config_file: Path | None = None
    last_reload: dict[str, Any] | None = None  # the outcome of the latest reload attempt
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    metrics: Metrics = field(default_factory=Metrics)
    overloaded: str | None = None  # why ingest refuses new events now (backpressure), or None
    recent_names: RecentNames = field(default_factory=RecentNames)  # event names in use, per destination
    not_forwarded_log: QuietLog = field(default_factory=QuietLog)  # at most a line per name sent nowhere a minute
    reload_peers: ReloadPeers | None = None  # with several workers: how a reload reaches the others
    marketing: Connection | None = None  # TikTok's Marketing API: audiences and reports
    audience_sync: AudienceSync | None = None
    audience_gauges: AudienceGauges | None = None
    reports: ReportPuller | None = None  # pulls TikTok's spend and results (reporting/puller.py)
    # Builds the delivery destinations of a settings snapshot (at start and on each reload).
    destinations_for: Callable[[Settings], Mapping[str, Destination]] = lambda settings: {}

    @property
    def settings(self) -> Settings:
        return self.snapshot.settings

    @property
    def routing(self) -> Routing:
        return self.snapshot.routing

    @property
    def keyring(self) -> KeyRing:
        return self.snapshot.keyring

    @property
    def loaded_at(self) -> float:
        return self.snapshot.loaded_at

    def descriptions(self) -> dict[str, dict[str, Any]]:
        """Each running destination's description (kind and identifying settings), for stats and the status page."""
        return {name: dict(destination.describe()) for name, destination in self.snapshot.destinations.items()}

    def snapshot_of(self, settings: Settings, routing: Routing, loaded_at: float) -> Snapshot:
        """A new snapshot for `settings` and `routing`: its key ring and destinations built from them."""
        destinations = self.destinations_for(settings)
        rules = AudienceRules(settings.audiences)
        return Snapshot(settings, routing, KeyRing(settings.sources), destinations, loaded_at, rules)

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

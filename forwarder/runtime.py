"""What the lifespan builds and the endpoints share: settings, store, routing snapshot, delivery wake-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .auth import KeyRing
from .delivery import Wakeups
from .routing import Routing
from .settings import Settings
from .store import Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    routing: Routing
    keyring: KeyRing
    clock: Callable[[], float] = time.time
    wakeups: Wakeups = field(default_factory=Wakeups)
    delivery_task: asyncio.Task[None] | None = None

    def wake_delivery(self, destinations: set[str] | None = None) -> None:
        self.wakeups.wake(destinations)

    def is_delivery_running(self) -> bool:
        if not self.settings.delivery.enabled:
            return True
        return self.delivery_task is not None and not self.delivery_task.done()

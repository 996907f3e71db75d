"""What the lifespan builds and the endpoints share: settings, store, routing snapshot, delivery wake-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .auth import KeyRing
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
    delivery_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    delivery_task: asyncio.Task[None] | None = None

    def wake_delivery(self) -> None:
        self.delivery_wakeup.set()

    def is_delivery_running(self) -> bool:
        if not self.settings.delivery.enabled:
            return True
        return self.delivery_task is not None and not self.delivery_task.done()

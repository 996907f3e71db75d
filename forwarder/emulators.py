"""Every TikTok API the service calls, emulated in one ASGI app: the Events API at its root and the Marketing API
(OAuth, audiences, sizes, reports) under `/marketing`.

Mounted at `emulator.path` (`/_emulator`), so the quick start points `tiktok.base_url` at
`http://127.0.0.1:8080/_emulator` and `marketing.base_url` at `http://127.0.0.1:8080/_emulator/marketing`; with
several workers `forwarder serve` runs this one app for all of them (`tiktok/shared_emulator.py`).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from .marketing_emulator import MarketingState, create_marketing_emulator
from .tiktok.emulator import Authorize, EmulatorState, create_emulator

MARKETING_PATH = "/marketing"


def create_emulators(
    events: EmulatorState | None = None, marketing: MarketingState | None = None, *, authorize: Authorize | None = None
) -> Starlette:
    events_app = create_emulator(events, authorize=authorize)
    marketing_app = create_marketing_emulator(marketing, authorize=authorize)
    app = Starlette(routes=[Mount(MARKETING_PATH, app=marketing_app), Mount("", app=events_app)])
    app.state.emulator = events_app.state.emulator
    app.state.marketing_emulator = marketing_app.state.marketing_emulator
    return app

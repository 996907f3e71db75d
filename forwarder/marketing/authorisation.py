"""Connect TikTok: TikTok's advertiser authorisation flow with the operator's own developer app (digest §6).

`begin` hands out a single-use `state` (kept in the store by digest for 10 minutes) inside the URL of TikTok's
consent page; TikTok sends the browser back to `{public_url}/connect/tiktok/callback?auth_code&state`, where
`exchange` trades the code (valid 1 h, once) for the advertiser token. `revoke` ends a token at TikTok.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

from ..settings_marketing import MarketingSettings
from ..store.marketing import MarketingCredential
from .client import MarketingError
from .connection import Connection
from .problems import classify

CALLBACK_PATH = "/connect/tiktok/callback"
STATE_TTL_S = 600.0


def missing_settings(settings: MarketingSettings) -> list[str]:
    """The settings Connect TikTok needs and lacks."""
    wanted = {"marketing.app_id": settings.app_id, "marketing.app_secret": settings.app_secret}
    wanted["marketing.public_url"] = settings.public_url
    return [name for name, value in wanted.items() if not value]


def state_digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def callback_url(settings: MarketingSettings) -> str:
    return f"{(settings.public_url or '').rstrip('/')}{CALLBACK_PATH}"


async def begin(connection: Connection) -> str:
    """The URL of TikTok's consent page, with a new state this service will take back once."""
    settings, now = connection.settings, connection.clock()
    state = secrets.token_urlsafe(32)
    await connection.store.create_oauth_state(state_digest(state), now, now + STATE_TTL_S)
    query = urlencode({"app_id": settings.app_id, "state": state, "redirect_uri": callback_url(settings)})
    return f"{settings.base_url.rstrip('/')}/portal/auth?{query}"


async def take_state(connection: Connection, state: str) -> bool:
    """True once for a state `begin` handed out less than 10 minutes ago."""
    return await connection.store.consume_oauth_state(state_digest(state), connection.clock())


def _app(settings: MarketingSettings) -> dict[str, str]:
    secret = settings.app_secret.get_secret_value() if settings.app_secret else ""
    return {"app_id": settings.app_id or "", "secret": secret}


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


async def exchange(connection: Connection, auth_code: str) -> MarketingCredential:
    """Trade an auth code for the advertiser credential; MarketingError when TikTok refuses it."""
    answer = await connection.client.post(
        "/oauth2/access_token/", None, {**_app(connection.settings), "auth_code": auth_code}
    )
    data, now = answer.data, connection.clock()
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        message = "TikTok's answer carries no access_token"
        raise MarketingError(classify(None, message), message, code=None, request_id=answer.request_id, http_status=200)
    # Advertiser tokens are long-term; a refresh token and expiries are kept if TikTok sends them (digest §6).
    expires_in, refresh_in = _seconds(data.get("expires_in")), _seconds(data.get("refresh_token_expires_in"))
    refresh = data.get("refresh_token")
    return MarketingCredential(
        token,
        _texts(data.get("advertiser_ids")),
        _texts(data.get("scope")),
        now,
        access_expires_at=now + expires_in if expires_in else None,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        refresh_expires_at=now + refresh_in if refresh_in else None,
    )


async def revoke(connection: Connection, token: str) -> None:
    """End `token` at TikTok; MarketingError when TikTok refuses (40105: it was revoked already)."""
    await connection.client.post("/oauth2/revoke_token/", None, {**_app(connection.settings), "access_token": token})

"""The Marketing API connection's health: what a probe of TikTok found, and the cause and fix of a bad state.

The probe asks `/oauth2/advertiser/get/` which advertisers the token reaches (it needs the developer app's id and
secret), then `/advertiser/info/` for the advertisers in use, which TikTok refuses without access to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings_marketing import MarketingSettings
from .client import MarketingClient, MarketingError
from .problems import PROBLEMS

STATES = (
    "not_connected",
    "connected",
    "expired",
    "missing_permission",
    "revoked",
    "unreachable",
    "refused",
    "unverified",
)
_UNREACHABLE_FIX = "nothing if it passes: the probe runs again shortly; else check marketing.base_url and the network"
ADVICE: dict[str, tuple[str, str]] = {
    "not_connected": (
        "no Marketing API credential: none was connected and marketing.access_token is not set",
        "press Connect TikTok on the status page (needs marketing.app_id, app_secret and public_url), or set "
        "FORWARDER_MARKETING__ACCESS_TOKEN",
    ),
    "expired": (PROBLEMS["connection_expired"].cause, PROBLEMS["connection_expired"].fix),
    "revoked": (PROBLEMS["invalid_connection"].cause, PROBLEMS["invalid_connection"].fix),
    "missing_permission": (PROBLEMS["missing_permission"].cause, PROBLEMS["missing_permission"].fix),
    "unreachable": (
        "TikTok's Marketing API did not answer (network, timeout, HTTP 5xx or rate limit)",
        _UNREACHABLE_FIX,
    ),
    "refused": (
        "TikTok refused the probe for another reason (its message says which), e.g. a wrong app_id or app_secret",
        "check marketing.app_id and marketing.app_secret against the developer app in TikTok's portal",
    ),
    "unverified": (
        "a token is set, but without marketing.app_id and app_secret or marketing.advertiser_ids the probe has "
        "nothing to ask TikTok",
        "set marketing.advertiser_ids, or marketing.app_id and marketing.app_secret",
    ),
}
_STATE_OF_PROBLEM = {
    "connection_expired": "expired",
    "invalid_connection": "revoked",
    "missing_permission": "missing_permission",
    "internal_error": "unreachable",
    "rate_limited": "unreachable",
}


@dataclass(frozen=True)
class Advertiser:
    advertiser_id: str
    name: str


@dataclass(frozen=True)
class Health:
    """One probe's finding; `source` is where the token came from: "connect" (the store) or "config"."""

    state: str
    source: str | None
    checked_at: float
    advertisers: tuple[Advertiser, ...] = ()
    missing: tuple[str, ...] = ()  # advertisers in marketing.advertiser_ids the token does not reach
    connected_at: float | None = None
    expires_at: float | None = None
    scopes: tuple[str, ...] = ()
    message: str | None = None  # TikTok's, scrubbed of secrets
    tiktok_code: int | None = None
    request_id: str | None = None

    def is_bad(self) -> bool:
        return self.state != "connected"

    def document(self) -> dict[str, Any]:
        """For the API and the status page: never a token."""
        cause, fix = ADVICE.get(self.state, (None, None))
        if self.missing:
            cause = (
                f"the token does not reach advertiser(s) {', '.join(self.missing)} named in marketing.advertiser_ids"
            )
        return {
            "state": self.state,
            "source": self.source,
            "checked_at": self.checked_at,
            "connected_at": self.connected_at,
            "expires_at": self.expires_at,
            "scopes": list(self.scopes),
            "advertisers": [{"advertiser_id": a.advertiser_id, "name": a.name} for a in self.advertisers],
            "missing_advertisers": list(self.missing),
            "cause": cause,
            "fix": fix,
            "message": self.message,
            "tiktok_code": self.tiktok_code,
            "request_id": self.request_id,
        }


def _listed(data: dict[str, Any]) -> list[Advertiser]:
    rows = data.get("list")
    return [
        Advertiser(str(row["advertiser_id"]), str(row.get("advertiser_name") or row.get("name") or ""))
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, dict) and row.get("advertiser_id") is not None
    ]


async def probe(
    client: MarketingClient, settings: MarketingSettings, token: str, known_ids: tuple[str, ...]
) -> tuple[str, list[Advertiser], list[str], MarketingError | None]:
    """(state, advertisers reached, configured advertisers missing, TikTok's refusal) for `token`; `known_ids`: the
    advertisers TikTok named when the token was granted."""
    wanted = list(settings.advertiser_ids)
    try:
        if settings.app_id and settings.app_secret:
            query = {"app_id": settings.app_id, "secret": settings.app_secret.get_secret_value()}
            reached = _listed((await client.get("/oauth2/advertiser/get/", token, query)).data)
        else:
            reached = [Advertiser(a, "") for a in wanted or known_ids]
            if not reached:
                return "unverified", [], [], None
        ids = {a.advertiser_id for a in reached}
        missing = [a for a in wanted if a not in ids]
        in_use = [a for a in reached if not wanted or a.advertiser_id in wanted]
        if in_use:
            # Access to each advertiser in use; it also names them when the app could not list them.
            info = await client.get("/advertiser/info/", token, {"advertiser_ids": [a.advertiser_id for a in in_use]})
            names = {a.advertiser_id: a.name for a in _listed(info.data)}
            in_use = [Advertiser(a.advertiser_id, a.name or names.get(a.advertiser_id, "")) for a in in_use]
        return ("missing_permission" if missing else "connected"), in_use, missing, None
    except MarketingError as error:
        return _STATE_OF_PROBLEM.get(error.problem.name, "refused"), [], [], error

"""Settings for TikTok's Marketing API: the credential (`[marketing]`) and the audiences synced with it
(`[audiences.NAME]`). The Events API token of a destination is another credential and does not reach these APIs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from .settings_sections import _Section

# What an audience syncs, by TikTok's id_schema name (`/segment/mapping/`): AAID_SHA256 carries GAIDs too.
IDENTIFIERS: dict[str, str] = {
    "email": "EMAIL_SHA256",
    "phone": "PHONE_SHA256",
    "idfa": "IDFA_SHA256",
    "gaid": "AAID_SHA256",
}
Identifier = Literal["email", "phone", "idfa", "gaid"]


class MarketingSettings(_Section):
    """TikTok's Marketing API for audiences and reports: an advertiser token given as a secret, or obtained by
    "Connect TikTok" on the status page with the operator's own TikTok developer app (`app_id`, `app_secret`)."""

    base_url: str = "https://business-api.tiktok.com"  # the authorisation page is {base_url}/portal/auth
    app_id: str | None = None  # the developer app that asks advertisers for access (Connect TikTok)
    app_secret: SecretStr | None = None  # prefer FORWARDER_MARKETING__APP_SECRET
    access_token: SecretStr | None = None  # a long-term advertiser token; prefer FORWARDER_MARKETING__ACCESS_TOKEN
    # The address TikTok sends the operator back to after consent: {public_url}/connect/tiktok/callback.
    public_url: str | None = None
    # Only these advertisers (empty: every advertiser the credential reaches).
    advertiser_ids: list[str] = Field(default_factory=list)
    # One request budget for every Marketing API call of every replica (audiences and reports): TikTok limits
    # per app and token, answering 40100 beyond it. Braze quotes 50 requests/s for the segment API.
    requests_per_s: float = Field(50.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    # How often the connection's health is probed (it is also probed when the credential changes).
    probe_interval_s: float = Field(300.0, gt=0)

    @field_validator("advertiser_ids", mode="before")
    @classmethod
    def _ids_are_text(cls, value: Any) -> Any:
        return [str(v) if isinstance(v, int) else v for v in value] if isinstance(value, list) else value

"""What the store keeps of the Marketing API connection: the credential Connect TikTok obtained, and the OAuth
`state` values handed out and not yet returned. Both backends implement `MarketingStore`; `Store` includes it.

The credential is a secret: nothing reads it but `marketing/connection.py`, which never shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MarketingCredential:
    """An advertiser token from TikTok's authorisation flow; a refresh token and expiries only if TikTok gave them."""

    access_token: str
    advertiser_ids: tuple[str, ...]
    scopes: tuple[str, ...]  # as TikTok names them (numeric scope ids, as text)
    connected_at: float
    access_expires_at: float | None = None
    refresh_token: str | None = None
    refresh_expires_at: float | None = None

    def __repr__(self) -> str:
        # A credential that reaches a log line or a traceback shows what it covers, never its tokens.
        return (
            f"MarketingCredential(advertiser_ids={self.advertiser_ids!r}, scopes={self.scopes!r}, "
            f"connected_at={self.connected_at!r}, access_expires_at={self.access_expires_at!r})"
        )


class MarketingStore(Protocol):
    async def save_marketing_credential(self, credential: MarketingCredential) -> None:
        """Keep `credential` as the one connected credential, replacing any earlier one."""
        ...

    async def marketing_credential(self) -> MarketingCredential | None: ...

    async def delete_marketing_credential(self) -> bool:
        """Forget the connected credential; False if there was none."""
        ...

    async def create_oauth_state(self, state_digest: str, now: float, expires_at: float) -> None:
        """Remember a `state` handed to TikTok's authorisation page (its digest); forget the expired ones."""
        ...

    async def consume_oauth_state(self, state_digest: str, now: float) -> bool:
        """True once for a state created and not expired; it is gone afterwards, whatever the answer."""
        ...

"""The sections of the config file: server, store, delivery, tiktok, emulator, and each source and destination."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

MIN_DEDUP_WINDOW_H = 48  # TikTok's own Events API dedup window


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_events_per_request: int = Field(1000, ge=1, le=10_000)
    # Worker processes serving HTTP (one per core uses them all); with SQLite they share one writer process.
    workers: int = Field(1, ge=1, le=64)
    # A request line and headers longer than this get 431, counted as they arrive (http/protocol.py).
    max_header_bytes: int = Field(65_536, ge=4096)
    header_timeout_s: float = Field(10.0, gt=0)  # a request head still incomplete after this gets 408
    body_timeout_s: float = Field(30.0, gt=0)  # a body still incomplete this long after its head gets 408
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDR ranges); empty: nobody's.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, values: list[str]) -> list[str]:
        # Normalised, so uvicorn (which reads host bits set in a CIDR as a hostname) gets what was meant.
        return [str(ipaddress.ip_network(value.strip(), strict=False)) for value in values]


class StoreSettings(_Section):
    url: str = "sqlite:///forwarder.db"
    # FULL: an acknowledged event survives power loss; NORMAL: survives a process crash only.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    dedup_window_h: float = 168.0
    retention_delivered_h: float = 72.0
    # Valid inbound events (email, phone, external_id hashed) are kept this long for `forwarder mappings diff`
    # and the per-event ledger; 0 keeps none.
    keep_inbound_h: float = Field(24.0, ge=0)
    group_commit_max: int = Field(256, ge=1)
    pool_size: int = Field(10, ge=1)  # PostgreSQL connections per replica
    # Backpressure: past any of these, ingest answers 503 with Retry-After instead of taking what it cannot keep.
    max_pending_events: int = Field(5_000_000, ge=1)
    max_store_bytes: int = Field(0, ge=0)  # 0: no limit
    min_free_disk_bytes: int = Field(256 * 1024 * 1024, ge=0)

    @field_validator("dedup_window_h")
    @classmethod
    def _at_least_tiktok_window(cls, value: float) -> float:
        if value < MIN_DEDUP_WINDOW_H:
            raise ValueError(f"must be at least {MIN_DEDUP_WINDOW_H} hours (TikTok's dedup window)")
        return value

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:///")

    @property
    def sqlite_path(self) -> Path:
        if not self.is_sqlite:
            raise ValueError(f"not a SQLite store: {self.url.split(':', 1)[0]}")
        return Path(self.url.removeprefix("sqlite:///"))


class DeliverySettings(_Section):
    enabled: bool = True
    batch_size: int = Field(1000, ge=1, le=1000)  # TikTok rejects a request of more than 1,000 events
    poll_interval_s: float = Field(1.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    lease_s: float = Field(60.0, gt=0)
    retry_base_s: float = Field(2.0, gt=0)
    retry_cap_s: float = Field(900.0, gt=0)
    retry_after_max_s: float = Field(3600.0, ge=0)  # a Retry-After is honoured up to this (a sane bound)
    max_attempts: int = Field(12, ge=1)
    # An event is dead-lettered only when it has had max_attempts *and* is older than this; inside 24 h, so a
    # replay after a fix still falls within TikTok's 48 h dedup window.
    max_age_h: float = Field(20.0, gt=0)
    unknown_code_max_attempts: int = Field(3, ge=1)  # TikTok codes we do not know: retry a few times, then fail
    pause_probe_base_s: float = Field(30.0, gt=0)  # a paused destination is probed after this, doubling ...
    pause_probe_cap_s: float = Field(600.0, gt=0)  # ... up to this
    breaker_failures: int = Field(5, ge=1)  # this many failed passes in a row open a destination's circuit ...
    breaker_cooldown_s: float = Field(30.0, gt=0)  # ... for this long, then one event probes it
    shutdown_grace_s: float = Field(5.0, ge=0)

    @model_validator(mode="after")
    def _lease_outlives_a_call(self) -> DeliverySettings:
        # A lease shorter than a live HTTP call lets a second claim re-send the same batch.
        if self.lease_s < 3 * self.timeout_s:
            raise ValueError("lease_s must be at least 3 x timeout_s")
        return self


class TikTokSettings(_Section):
    base_url: str = "https://business-api.tiktok.com"
    partner_name: str | None = None
    default_phone_region: str = "US"
    max_event_age_h: float = Field(168.0, gt=0)
    max_future_skew_s: float = Field(300.0, ge=0)
    # A currency TikTok does not list: reject the event, or send it without value and currency.
    unsupported_currency: Literal["reject", "drop_value"] = "reject"


class EmulatorSettings(_Section):
    """Serve the local Events API emulator inside the service, for the quick start and demos."""

    enabled: bool = False
    path: str = "/_emulator"


class SourceSettings(_Section):
    """An app or attribution platform that posts events with its own ingest key(s)."""

    keys: list[SecretStr] = []
    key_sha256: list[str] = []  # the same keys given as SHA-256 hex digests, so the file holds no secret
    destinations: list[str] | None = None  # None: every destination
    rate_limit_per_s: float | None = Field(None, gt=0)  # per ingest key; over it: 429 with Retry-After
    rate_limit_burst: float | None = Field(None, gt=0)
    signing_secrets: list[SecretStr] = []  # Standard Webhooks `whsec_...` secrets; when set, requests must be signed
    # Postbacks (`/v1/postbacks/{source}`): the platform's format, and what it may not say itself.
    kind: Literal["sdk", "appsflyer", "adjust", "branch", "revenuecat", "generic"] = "sdk"
    app_id: str | None = None  # the store app id for platforms whose payload lacks it (Adjust, Branch, RevenueCat)
    key_header: str | None = None  # a header that carries the key as it is (AppsFlyer's custom token header)
    allowed_ips: list[str] = []  # IPs or CIDR ranges; empty: any
    attributed_only: bool = False  # drop events the platform says are organic
    postback_window_days: float | None = Field(None, gt=0)  # drop events this long after install (when known)
    skip_sandbox: bool = True  # RevenueCat sandbox purchases are not sent to TikTok
    fields: dict[str, str] = {}  # generic sources: our inbound field -> dotted path in the platform's payload
    # Sources whose earlier report of an order (store transaction id) makes this source's report of it a duplicate;
    # a source always dedups against itself. Empty: no other source can suppress this source's purchases.
    dedup_orders_with: list[str] = []
    # Sent as TikTok's test_event_code for this source's events that carry none: watch a new platform's
    # postbacks in Events Manager -> Test Events before they count.
    test_event_code: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                # Named by its index, never echoed: a wrong entry is often a key pasted into the wrong field.
                raise ValueError(
                    f"entry {index} is not an IP address or CIDR range (e.g. 203.0.113.7 or 203.0.113.0/24)"
                ) from None
        return values

    @cached_property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """`allowed_ips` parsed once: the check runs on every request of the source."""
        return tuple(ipaddress.ip_network(value, strict=False) for value in self.allowed_ips)

    @field_validator("key_sha256")
    @classmethod
    def _hex_digests(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
                raise ValueError("each entry must be a SHA-256 hex digest (64 hex characters)")
        return [value.lower() for value in values]

    @model_validator(mode="after")
    def _has_a_key(self) -> SourceSettings:
        if not self.keys and not self.key_sha256:
            raise ValueError("a source needs at least one key (keys or key_sha256)")
        return self


class DestinationSettings(_Section):
    """One TikTok event source (pixel, TikTok App ID, offline or CRM event set) with its token and mapping table."""

    # What the destination talks to (destination_kinds.py); the TikTok Events API is the only event kind today.
    kind: Literal["tiktok_events_api"] = "tiktok_events_api"
    # web: pixel code; app: TikTok App ID; offline: offline event set ID; crm: CRM event set ID (TikTok's /crm/list/)
    event_source: Literal["web", "app", "offline", "crm"]
    event_source_id: str = Field(min_length=1)
    access_token: SecretStr
    mapping: str = "default"
    unmapped: Literal["drop", "custom"] | None = None  # None: the mapping table's policy, else drop
    page_url: str | None = None
    app_ids: list[str] | None = None  # app destinations: only events of these store app ids
    # crm destinations: the CRM's name (e.g. "HubSpot") sent as lead.lead_event_source when an event names none.
    lead_event_source: str | None = Field(None, min_length=1, max_length=256)
    rate_limit_per_s: float = Field(20.0, gt=0)  # Events API requests per second (TikTok's own limit is unpublished)
    concurrency: int = Field(4, ge=1, le=64)  # requests in flight at once
    # content_type sent when an event names products without one ("" sends none): catalogue ads need it.
    default_content_type: Literal["product", "product_group", ""] = "product"
    # Every event to this destination is a test event, unless the event or its source names its own code.
    test_event_code: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("event_source_id", mode="before")
    @classmethod
    def _id_is_text(cls, value: Any) -> Any:
        # TikTok App IDs look numeric but must travel as strings.
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _web_needs_page_url(self) -> DestinationSettings:
        if self.event_source == "web" and not self.page_url:
            raise ValueError("page_url is required for a web destination (app events have no page)")
        return self

    @model_validator(mode="after")
    def _fields_of_other_sources(self) -> DestinationSettings:
        # Set where TikTok's body has no place for it, a value would be ignored without a word.
        if self.page_url and self.event_source in ("offline", "crm"):
            raise ValueError(f"page_url is for web destinations; {self.event_source} events carry no page")
        if self.lead_event_source and self.event_source != "crm":
            raise ValueError("lead_event_source is for crm destinations (TikTok sends lead data with crm events only)")
        return self

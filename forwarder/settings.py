"""Typed settings: init kwargs > FORWARDER_* environment > TOML config file > TOML defaults file.

The defaults file ($FORWARDER_DEFAULTS) is how a packaged install (the Docker image) sets its own defaults, such as
`/data` for the store, without overriding what the operator's config says.
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .settings_audiences import AudienceSettings, AudienceSyncSettings
from .settings_marketing import MarketingSettings
from .settings_reporting import ReportingSettings
from .settings_sections import (
    DeliverySettings,
    DestinationSettings,
    EmulatorSettings,
    ServerSettings,
    SourceSettings,
    StoreSettings,
    TikTokSettings,
)

__all__ = [
    "DeliverySettings",
    "DestinationSettings",
    "EmulatorSettings",
    "ServerSettings",
    "Settings",
    "SourceSettings",
    "StoreSettings",
    "TikTokSettings",
    "config_file_in_use",
    "load_settings",
]

# The TOML file for the Settings() being built; set by load_settings(), else FORWARDER_CONFIG.
_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("config_file", default=None)
# Its content when the caller has read it already (a reload parses exactly the bytes it saw stay unchanged).
_config_content: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("config_content", default=None)


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must not print the offending value, which may be a secret.
    model_config = SettingsConfigDict(
        env_prefix="FORWARDER_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
        hide_input_in_errors=True,
    )

    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    delivery: DeliverySettings = DeliverySettings()
    tiktok: TikTokSettings = TikTokSettings()
    emulator: EmulatorSettings = EmulatorSettings()
    marketing: MarketingSettings = MarketingSettings()
    audience_sync: AudienceSyncSettings = AudienceSyncSettings()
    reporting: ReportingSettings = ReportingSettings()
    mappings_dir: Path = Path("mappings")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console", "auto"] = "auto"
    watch_config: bool = True  # reload the config file and mapping tables when they change on disk
    # A reload reads every file twice this far apart and applies only content that stayed the same: an editor
    # saving in place must not put a half-written file live.
    reload_settle_s: float = Field(0.5, ge=0, le=60)
    admin_token: SecretStr | None = None  # required by /v1/stats when set
    sources: dict[str, SourceSettings] = {}
    destinations: dict[str, DestinationSettings] = {}
    audiences: dict[str, AudienceSettings] = {}

    @model_validator(mode="after")
    def _sources_name_known_destinations(self) -> Settings:
        # Every dangling name at once, one "key: reason" line each (`forwarder check` reports them one by one).
        unknown = [
            f"sources.{name}.destinations: names unknown destination {destination!r}"
            for name, source in self.sources.items()
            for destination in source.destinations or []
            if destination not in self.destinations
        ]
        unknown += [
            f"sources.{name}.dedup_orders_with: names unknown source {other!r}"
            for name, source in self.sources.items()
            for other in source.dedup_orders_with
            if other not in self.sources
        ]
        if unknown:
            raise ValueError("\n".join(unknown))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        defaults_file = os.environ.get("FORWARDER_DEFAULTS")
        defaults = (TomlConfigSettingsSource(settings_cls, toml_file=Path(defaults_file)),) if defaults_file else ()
        config_file = _config_file.get() or _env_config_file()
        if config_file is None:
            return (init_settings, env_settings, *defaults)
        content = _config_content.get()
        if content is not None:
            return (init_settings, env_settings, _TomlContentSource(settings_cls, content), *defaults)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file), *defaults)

    def secrets(self) -> list[str]:
        """Every secret value in these settings, so logs can be scrubbed of them."""
        values = [key.get_secret_value() for source in self.sources.values() for key in source.keys]
        values += [s.get_secret_value() for source in self.sources.values() for s in source.signing_secrets]
        values += [d.access_token.get_secret_value() for d in self.destinations.values()]
        if self.admin_token is not None:
            values.append(self.admin_token.get_secret_value())
        values += [s.get_secret_value() for s in (self.marketing.app_secret, self.marketing.access_token) if s]
        return [value for value in values if value]


class _TomlContentSource(TomlConfigSettingsSource):
    """The TOML source from bytes already read, instead of from the file (which may have changed since)."""

    def __init__(self, settings_cls: type[BaseSettings], content: bytes) -> None:
        self._content = content
        super().__init__(settings_cls, toml_file=None)

    def _read_files(self, files: Any, deep_merge: bool = False) -> dict[str, Any]:
        return tomllib.loads(self._content.decode("utf-8"))


def _env_config_file() -> Path | None:
    value = os.environ.get("FORWARDER_CONFIG")
    return Path(value) if value else None


def config_file_in_use(explicit: Path | None) -> Path | None:
    """The TOML file settings come from: the one given (--config), else $FORWARDER_CONFIG, else none."""
    return explicit or _env_config_file()


def load_settings(config_file: Path | None = None, *, content: bytes | None = None, **overrides: Any) -> Settings:
    """Build Settings from a TOML file (if given; or `content`, that file as read), the environment and overrides."""
    if config_file is not None and content is None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    token, content_token = _config_file.set(config_file), _config_content.set(content)
    try:
        return Settings(**overrides)
    finally:
        _config_content.reset(content_token)
        _config_file.reset(token)

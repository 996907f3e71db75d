"""Settings: every field is documented in config.example.toml; env overrides the file; bad values are named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from forwarder.settings import Settings, load_settings
from tests.conftest import REPO

EXAMPLE = REPO / "config.example.toml"


def _documented_keys(text: str) -> set[str]:
    """Keys set or shown commented-out (`# key = ...`) in the example file, as dotted paths."""
    keys, section = set(), ""
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped.startswith("[") and stripped.endswith("]") and not line.strip().startswith("#"):
            section = stripped.strip("[]").split(".")[0]
        elif "=" in stripped and stripped.split("=")[0].strip().isidentifier():
            key = stripped.split("=")[0].strip()
            keys.add(f"{section}.{key}" if section else key)
    return keys


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _fields(annotation, f"{name}.")
        else:
            names.add(prefix + name)
    return names


def test_every_setting_is_in_the_example_config() -> None:
    from forwarder.settings import DestinationSettings, SourceSettings
    from forwarder.settings_audiences import AudienceSettings

    documented = _documented_keys(EXAMPLE.read_text())
    expected = (_fields(Settings) - {"sources", "destinations", "audiences"}) | {
        f"sources.{k}" for k in SourceSettings.model_fields
    }
    expected |= {f"destinations.{k}" for k in DestinationSettings.model_fields}
    expected |= {f"audiences.{k}" for k in AudienceSettings.model_fields}
    assert expected - documented == set()


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    settings = load_settings(EXAMPLE)
    assert settings.store.url == "sqlite:///forwarder.db"
    assert settings.destinations["demo_app_events"].event_source == "app"


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDER_DESTINATIONS__DEMO_APP_EVENTS__ACCESS_TOKEN", "from-env")
    monkeypatch.setenv("FORWARDER_DELIVERY__BATCH_SIZE", "100")
    settings = load_settings(EXAMPLE)
    assert settings.destinations["demo_app_events"].access_token.get_secret_value() == "from-env"
    assert settings.destinations["demo_app_events"].event_source_id == "7301234567890123456"
    assert settings.delivery.batch_size == 100


def test_secrets_are_masked_in_reprs() -> None:
    settings = load_settings(EXAMPLE)
    assert "demo-access-token" not in repr(settings)
    assert "demo-ingest-key" not in settings.model_dump_json()


OFFLINE = {"event_source": "offline", "event_source_id": "7654321098765432109", "access_token": "t"}


def test_offline_and_crm_destinations_are_event_sources() -> None:
    """Offline and CRM event sets are destinations too; a crm one may name its CRM for lead.lead_event_source."""
    settings = Settings(
        destinations={"shop": OFFLINE, "leads": {**OFFLINE, "event_source": "crm", "lead_event_source": "HubSpot"}}
    )
    assert settings.destinations["shop"].event_source == "offline"
    assert settings.destinations["leads"].lead_event_source == "HubSpot"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"store": {"dedup_window_h": 24}}, "store.dedup_window_h"),
        ({"delivery": {"lease_s": 5, "timeout_s": 10}}, "delivery"),
        (
            {"destinations": {"w": {"event_source": "web", "event_source_id": "P", "access_token": "t"}}},
            "destinations.w",
        ),
        (
            {"destinations": {"x": {"event_source": "pixel", "event_source_id": "P", "access_token": "t"}}},
            "destinations.x.event_source",
        ),
        (
            {"destinations": {"o": {**OFFLINE, "page_url": "https://example.com"}}},
            "destinations.o",
        ),
        (
            {"destinations": {"a": {**OFFLINE, "event_source": "app", "lead_event_source": "HubSpot"}}},
            "destinations.a",
        ),
        ({"sources": {"s": {"keys": []}}}, "sources.s"),
        ({"sources": {"s": {"key_sha256": ["abc"]}}}, "sources.s.key_sha256"),
        ({"sources": {"s": {"keys": ["k"], "destinations": ["nope"]}}}, ""),
    ],
)
def test_invalid_settings_name_the_key(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(**values)
    locations = [".".join(str(p) for p in error["loc"]) for error in raised.value.errors()]
    assert field in locations


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "nope.toml")


def test_example_config_is_valid_toml() -> None:
    assert tomllib.loads(EXAMPLE.read_text())["store"]["sqlite_synchronous"] == "FULL"


def test_the_config_file_in_use_for_reloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from forwarder.settings import config_file_in_use

    monkeypatch.delenv("FORWARDER_CONFIG", raising=False)
    assert config_file_in_use(None) is None
    monkeypatch.setenv("FORWARDER_CONFIG", str(tmp_path / "from-env.toml"))
    assert config_file_in_use(None) == tmp_path / "from-env.toml"  # `forwarder serve` in the Docker image
    assert config_file_in_use(tmp_path / "given.toml") == tmp_path / "given.toml"

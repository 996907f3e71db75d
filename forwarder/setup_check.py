"""Settings that load but cannot be what the operator meant: values copied from an example, a store app id where
TikTok's App ID belongs, the quick start's demo parts left in a config that sends to the real TikTok.

Each finding names the key and says what to put there. The demo config (the embedded emulator on loopback) is
meant to carry the example credentials, so those are only flagged once events go to TikTok or the service is
reachable from elsewhere.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from .problems import Problem
from .settings import DestinationSettings, Settings

WHERE = "config"
# Credentials printed in config.example.toml, deploy/config.toml and README: public, so never a real secret.
EXAMPLE_SECRETS = frozenset(
    {"demo-ingest-key", "demo-admin-token", "demo-access-token", "a-long-random-key", "set-in-the-environment", "..."}
)
EXAMPLE_APP_IDS = frozenset({"7301234567890123456"})  # config.example.toml's demo destination
_EXAMPLE_DIGESTS = frozenset(hashlib.sha256(secret.encode()).hexdigest() for secret in EXAMPLE_SECRETS)
_PLACEHOLDER = re.compile(r"<[^<>]*>")
_APP_STORE_ID = re.compile(r"id\d+", re.I)


def is_real_tiktok(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    return host == "tiktok.com" or host.endswith(".tiktok.com")


def is_example_secret(value: str) -> bool:
    return value in EXAMPLE_SECRETS or value.startswith("demo-") or value.lower() in _EXAMPLE_DIGESTS


def check_setup(settings: Settings) -> list[Problem]:
    """Every placeholder and demo leftover in `settings`, as errors (warnings where the intent may be real)."""
    # With delivery off nothing reaches TikTok, whatever base_url says (tests and store-only replicas run so).
    real = is_real_tiktok(settings.tiktok.base_url) and settings.delivery.enabled
    public = real or not _is_loopback(settings.server.host)
    problems = list(_placeholders(settings))
    placeholder_keys = {problem.key for problem in problems}
    problems += _tiktok_host(settings, real)
    for name, destination in settings.destinations.items():
        problems += _destination(name, destination, real, placeholder_keys)
    if public:
        problems += _example_secrets(settings, real, placeholder_keys)
    return problems


def _placeholders(settings: Settings) -> Iterator[Problem]:
    for key, value, secret in _strings(settings, ""):
        if _PLACEHOLDER.search(value):
            shown = "" if secret else f" ({value!r})"
            yield Problem("error", WHERE, key, f"is still an example's placeholder{shown}: put the real value here")


def _strings(value: Any, key: str) -> Iterator[tuple[str, str, bool]]:
    """Every text value in the settings with its dotted key, and whether it is a secret."""
    if isinstance(value, SecretStr):
        yield key, value.get_secret_value(), True
    elif isinstance(value, str):
        yield key, value, False
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name), f"{key}.{name}" if key else name)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, f"{key}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{key}.{index}")


def _tiktok_host(settings: Settings, real: bool) -> Iterator[Problem]:
    if real and settings.emulator.enabled:
        yield Problem(
            "error",
            WHERE,
            "emulator.enabled",
            "the emulator is on while tiktok.base_url is the real TikTok: set enabled = false in [emulator]",
        )
    url = urlsplit(settings.tiktok.base_url)
    own_emulator = (
        url.port == settings.server.port
        and _is_loopback(url.hostname or "")
        and url.path.rstrip("/") == settings.emulator.path.rstrip("/")
    )
    if own_emulator and not settings.emulator.enabled:
        yield Problem(
            "error",
            WHERE,
            "tiktok.base_url",
            "points at this service's emulator, which [emulator] turns off: nothing would answer. Use "
            '"https://business-api.tiktok.com" for TikTok, or set enabled = true in [emulator] for a demo',
        )


def _destination(name: str, destination: DestinationSettings, real: bool, skip: set[str]) -> Iterator[Problem]:
    key = f"destinations.{name}"
    source_id = destination.event_source_id
    if real and source_id in EXAMPLE_APP_IDS:
        yield Problem(
            "error",
            WHERE,
            key,
            "is the example config's demo destination (its App ID is the example's) and tiktok.base_url is the real "
            f"TikTok: remove [destinations.{name}], or give it your TikTok App ID and access token",
        )
        return
    if real and is_example_secret(destination.access_token.get_secret_value()) and f"{key}.access_token" not in skip:
        yield Problem(
            "error",
            WHERE,
            f"{key}.access_token",
            "is the example's access token, which TikTok refuses: put your Events API access token here or in "
            f"FORWARDER_DESTINATIONS__{name.upper()}__ACCESS_TOKEN",
        )
    if f"{key}.event_source_id" in skip:
        return
    if destination.event_source == "app" and not source_id.isdigit():
        yield Problem("error", WHERE, f"{key}.event_source_id", _not_an_app_id(source_id))
    if destination.event_source == "web" and source_id.isdigit():
        yield Problem(
            "warning",
            WHERE,
            f"{key}.event_source_id",
            f"{source_id!r} looks like a TikTok App ID: a web destination takes its pixel code (Events Manager -> "
            'your pixel), an app destination has event_source = "app"',
        )
    if real and destination.test_event_code:
        yield Problem(
            "warning",
            WHERE,
            f"{key}.test_event_code",
            "every event to this destination is a test event (shown in Events Manager -> Test Events, not used for "
            "ads): remove test_event_code once you have seen them arrive",
        )


def _not_an_app_id(value: str) -> str:
    if _APP_STORE_ID.fullmatch(value):
        looks = "an App Store id"
    elif "." in value:
        looks = "a store app id (package name or bundle id)"
    else:
        looks = "something else"
    return (
        f"{value!r} looks like {looks}; an app destination's event_source_id is TikTok's numeric App ID "
        "(Events Manager -> your app). The store app id goes in each event's app.id"
    )


def _example_secrets(settings: Settings, real: bool, skip: set[str]) -> Iterator[Problem]:
    why = "events go to the real TikTok" if real else f"server.host {settings.server.host!r} is reachable from others"
    advice = f"it is printed in the README, and {why}: use a long random value (openssl rand -hex 32)"
    if settings.admin_token is not None and is_example_secret(settings.admin_token.get_secret_value()):
        yield Problem("error", WHERE, "admin_token", f"is the example's admin token; {advice}")
    for name, source in settings.sources.items():
        keys = [key.get_secret_value() for key in source.keys]
        for field, values in (("keys", keys), ("key_sha256", source.key_sha256)):
            for index, value in enumerate(values):
                key = f"sources.{name}.{field}.{index}"
                if key not in skip and is_example_secret(value):
                    yield Problem("error", WHERE, key, f"is an example ingest key; {advice}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

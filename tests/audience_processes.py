"""Audiences on real processes: the config `forwarder serve` gets for them, users posted as an app posts them, and
what the Marketing API emulator (embedded, or a `forwarder emulate`) ends up holding, read over its control API.
Shared by the system tests of live rules (test_audiences.py) and of past behaviour and lift (test_audience_lift.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from forwarder.store.sqlite.writer.audiences import user_key

from .configs import service_config
from .processes import running

KEY, ADMIN = "aud-ingest-key", "aud-admin-token"
AUTH = {"Authorization": f"Bearer {KEY}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
ADVERTISER = "7002238017842757633"
WINDOW_S = 3
LIVE_AUDIENCE = f"""
[audiences.trial_no_purchase]
advertiser_id = "{ADVERTISER}"
enter = {{ event = "START_TRIAL" }}
unless = {{ event = "PURCHASE", within_s = {WINDOW_S} }}
exit = {{ event = "CANCEL_SUBSCRIPTION" }}
"""


def audience_config(
    tmp_path: Path,
    port: int,
    store_url: str,
    *,
    lease_s: float = 30,
    emulator: str | None = None,
    audiences: str = LIVE_AUDIENCE,
) -> Path:
    """The embedded emulator, or the `forwarder emulate` at `emulator`; `audiences` the [audiences.*] tables."""
    tiktok = emulator or f"http://127.0.0.1:{port}/_emulator"
    sync = {
        "flush_interval_s": 0.3,
        "max_users_per_request": 300,
        "lease_s": lease_s,
        "retry_base_s": 0.2,
        "retry_cap_s": 1,
        "probe_after_s": 1,
        "lift_min_users": 20,
    }
    return service_config(
        tmp_path / "config.toml",
        port=port,
        tiktok_url=tiktok,
        store_url=store_url,
        key=KEY,
        token="aud-events-token",
        top_level={"admin_token": ADMIN},
        delivery="enabled = false",
        emulator={"enabled": emulator is None},
        tables={
            "marketing": {"base_url": f"{tiktok}/marketing", "access_token": "emulator-token"},
            "audience_sync": sync,
        },
        extra=audiences,
    )


def email(i: int) -> str:
    return f"user{i}@example.com"


def hashed(i: int) -> str:
    return hashlib.sha256(email(i).encode()).hexdigest()


def ledger_key(i: int) -> str:
    """The ledger's key for user `i` (known by their email only), which the hold-out and the cap are drawn on."""
    return user_key({"email": hashed(i)})


def post(
    base: str, name: str, users: range | list[int], at: float, *, value: float | None = None, tag: str = ""
) -> None:
    """Each user does `name` at `at` (with `properties.value`); `tag` tells apart events of the same name."""
    events: list[dict[str, Any]] = [
        {"event": name, "event_id": f"{name}-{tag}{i}", "timestamp": int(at), "app": {"id": "com.example.app"},
         "user": {"email": [email(i)]}}
        for i in users
    ]  # fmt: skip
    if value is not None:
        for event in events:
            event["properties"] = {"value": value, "currency": "EUR"}
    for start in range(0, len(events), 100):
        answer = httpx.post(f"{base}/v1/events", json={"events": events[start : start + 100]}, headers=AUTH, timeout=30)
        assert answer.status_code == 202, answer.text
        assert not answer.json().get("rejected"), answer.text


def audience(base: str, name: str = "trial_no_purchase") -> dict[str, Any]:
    answer = httpx.get(f"{base}/v1/audiences/{name}", headers=ADMIN_AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def tiktok_members(tiktok: str, audience_id: str) -> set[str]:
    """The hashed emails the emulator's audience holds."""
    answer = httpx.get(f"{tiktok}/marketing/_control/audiences/{audience_id}", headers=ADMIN_AUTH, timeout=10)
    answer.raise_for_status()
    return {i.split(":", 1)[1] for member in answer.json()["users"] for i in member if i.startswith("EMAIL")}


def marketing_state(tiktok: str) -> dict[str, Any]:
    answer = httpx.get(f"{tiktok}/marketing/_control/state", headers=ADMIN_AUTH, timeout=10)
    answer.raise_for_status()
    state: dict[str, Any] = answer.json()
    return state


def users_ever_sent(tiktok: str) -> dict[str, int]:
    """Users in every acknowledged mapping request TikTok received, by action (add, delete), over all audiences."""
    sent: dict[str, int] = {}
    for entry in marketing_state(tiktok)["audiences"]:
        for change in entry["history"]:
            sent[change["action"]] = sent.get(change["action"], 0) + change["users"]
    return sent


def wait_settled(base: str, members: int, timeout_s: float = 60, name: str = "trial_no_purchase") -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        document = audience(base, name)
        if document["members"] == members and document["pending"] == 0 and document["waiting"] == 0:
            return document
        assert time.monotonic() < deadline, f"not settled: {document}"
        time.sleep(0.2)


def script(tiktok: str, spec: dict[str, Any]) -> None:
    answer = httpx.post(f"{tiktok}/marketing/_control/script", json=spec, headers=ADMIN_AUTH, timeout=10)
    assert answer.status_code == 200, answer.text


def ready_at_once(tiktok: str) -> None:
    """TikTok takes mappings a minute or two after creating an audience; the emulator, told so, at once."""
    script(tiktok, {"ready_after_s": 0})


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


@contextmanager
def service(tmp_path: Path, port: int, config: Path) -> Iterator[Any]:
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path) as p:
        yield p


@contextmanager
def emulator(tmp_path: Path, port: int) -> Iterator[str]:
    """A `forwarder emulate` on `port` (its control API under the admin token); its base URL."""
    tiktok = f"http://127.0.0.1:{port}"
    emulate = ["emulate", "--port", str(port), "--control-token", ADMIN]
    with running(emulate, f"{tiktok}/marketing/_control/state", tmp_path / "emulator.log"):
        yield tiktok

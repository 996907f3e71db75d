"""Audiences end to end on real processes: `forwarder serve` with its embedded TikTok (Events and Marketing APIs),
users posted as an app would post them, the membership TikTok ends with checked user by user."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.configs import service_config
from tests.postgres import postgres_database
from tests.processes import free_port, running

pytestmark = pytest.mark.slow

KEY, ADMIN = "aud-ingest-key", "aud-admin-token"
AUTH = {"Authorization": f"Bearer {KEY}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
ADVERTISER = "7002238017842757633"
WINDOW_S = 3


def audience_config(
    tmp_path: Path, port: int, store_url: str, *, lease_s: float = 30, emulator: str | None = None
) -> Path:
    """The embedded emulator, or the `forwarder emulate` at `emulator`."""
    tiktok = emulator or f"http://127.0.0.1:{port}/_emulator"
    path = service_config(
        tmp_path / "config.toml",
        port=port,
        tiktok_url=tiktok,
        store_url=store_url,
        key=KEY,
        token="aud-events-token",
        delivery="enabled = false",
    )
    with path.open("a") as config:
        config.write(f"""
admin_token = "{ADMIN}"
[emulator]
enabled = {"false" if emulator else "true"}
[marketing]
base_url = "{tiktok}/marketing"
access_token = "emulator-token"
[audience_sync]
flush_interval_s = 0.3
max_users_per_request = 300
lease_s = {lease_s}
retry_base_s = 0.2
retry_cap_s = 1
probe_after_s = 1
[audiences.trial_no_purchase]
advertiser_id = "{ADVERTISER}"
enter = {{ event = "START_TRIAL" }}
unless = {{ event = "PURCHASE", within_s = {WINDOW_S} }}
exit = {{ event = "CANCEL_SUBSCRIPTION" }}
""")
    # A top-level key must come before the first table: move admin_token up.
    text = path.read_text().replace(f'\nadmin_token = "{ADMIN}"\n', "\n")
    path.write_text(f'admin_token = "{ADMIN}"\n' + text)
    return path


def email(i: int) -> str:
    return f"user{i}@example.com"


def hashed(i: int) -> str:
    return hashlib.sha256(email(i).encode()).hexdigest()


def post(base: str, name: str, users: range | list[int], at: float) -> None:
    events = [
        {"event": name, "event_id": f"{name}-{i}", "timestamp": int(at), "app": {"id": "com.example.app"},
         "user": {"email": [email(i)]}}
        for i in users
    ]  # fmt: skip
    for start in range(0, len(events), 100):
        answer = httpx.post(f"{base}/v1/events", json={"events": events[start : start + 100]}, headers=AUTH, timeout=30)
        assert answer.status_code == 202, answer.text


def audience(base: str) -> dict[str, Any]:
    answer = httpx.get(f"{base}/v1/audiences/trial_no_purchase", headers=ADMIN_AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def tiktok_members(tiktok: str, audience_id: str) -> set[str]:
    answer = httpx.get(f"{tiktok}/marketing/_control/audiences/{audience_id}", headers=ADMIN_AUTH, timeout=10)
    answer.raise_for_status()
    return {i.split(":", 1)[1] for member in answer.json()["users"] for i in member if i.startswith("EMAIL")}


def marketing_state(tiktok: str) -> dict[str, Any]:
    answer = httpx.get(f"{tiktok}/marketing/_control/state", headers=ADMIN_AUTH, timeout=10)
    answer.raise_for_status()
    state: dict[str, Any] = answer.json()
    return state


def wait_settled(base: str, members: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        document = audience(base)
        if document["members"] == members and document["pending"] == 0 and document["waiting"] == 0:
            return document
        assert time.monotonic() < deadline, f"not settled: {document}"
        time.sleep(0.2)


def ready_at_once(tiktok: str) -> None:
    """TikTok takes mappings a minute or two after creating an audience; the emulator, told so, at once."""
    script = {"ready_after_s": 0}
    answer = httpx.post(f"{tiktok}/marketing/_control/script", json=script, headers=ADMIN_AUTH, timeout=10)
    assert answer.status_code == 200, answer.text


@contextmanager
def service(tmp_path: Path, port: int, config: Path) -> Iterator[Any]:
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path) as p:
        yield p


def test_a_thousand_users_through_a_live_rule_and_an_exit(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = audience_config(tmp_path, port, f"sqlite:///{tmp_path / 'forwarder.db'}")
    with service(tmp_path, port, config):
        tiktok = f"{base}/_emulator"
        ready_at_once(tiktok)
        started = time.time()
        post(base, "START_TRIAL", range(1000), started)
        post(base, "PURCHASE", range(0, 1000, 4), started + 1)  # 250 buy within the window: never members
        document = wait_settled(base, 750)
        post(base, "CANCEL_SUBSCRIPTION", range(1, 1000, 4), time.time())  # 250 of the members leave
        document = wait_settled(base, 500)
        expected = {hashed(i) for i in range(1000) if i % 4 in (2, 3)}
        assert tiktok_members(tiktok, document["tiktok_audience_id"]) == expected
        assert document["synced"] == 500 and document["errored"] == 0 and document["not_synced"] == 0
        assert document["entered"] == 750 and document["left"]["exited"] == 250
        assert document["left"]["cancelled"] == 250 and document["sent"] == 1000
        state = marketing_state(tiktok)
        assert len(state["audiences"]) == 1
        mappings = [r for r in state["requests"] if r["path"].endswith("/segment/mapping/")]
        assert all(r["answer"] == "0" for r in mappings)
        assert 4 <= len(mappings) <= 10  # 750 adds and 250 deletes in requests of at most 300 users
        page = httpx.get(f"{base}/", headers=ADMIN_AUTH, timeout=10).text
        assert 'data-figure="synced" title="TikTok holds them (acknowledged)">500<' in page
        metrics = httpx.get(f"{base}/metrics", headers=ADMIN_AUTH, timeout=10).text
        assert 'forwarder_audience_users{audience="trial_no_purchase",figure="synced"} 500.0' in metrics
    log = (tmp_path / "serve.log").read_text()
    assert "emulator-token" not in log and email(1) not in log


def test_kill_9_during_sync_loses_no_membership_change(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    base, tiktok = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}"
    store = f"sqlite:///{tmp_path / 'forwarder.db'}"
    config = audience_config(tmp_path, port, store, lease_s=1, emulator=tiktok)
    emulate = ["emulate", "--port", str(emulator_port), "--control-token", ADMIN]
    with running(emulate, f"{tiktok}/marketing/_control/state", tmp_path / "emulator.log"):
        ready_at_once(tiktok)
        with service(tmp_path, port, config) as process:
            started = time.time() - WINDOW_S - 1  # past the window already: members at once
            post(base, "START_TRIAL", range(3000), started)
            post(base, "CANCEL_SUBSCRIPTION", range(0, 3000, 3), started + 1)
            deadline = time.monotonic() + 30
            while not marketing_state(tiktok)["audiences"] or audience(base)["synced"] == 0:
                assert time.monotonic() < deadline, "the sync never started"
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)  # dies mid-sync: leases held, answers unrecorded
            process.wait()
        with service(tmp_path, port, config):
            document = wait_settled(base, 2000, timeout_s=90)
            assert document["synced"] == 2000 and document["errored"] == 0
            expected = {hashed(i) for i in range(3000) if i % 3}
            assert tiktok_members(tiktok, document["tiktok_audience_id"]) == expected
            assert len(marketing_state(tiktok)["audiences"]) == 1  # the restart adopted it, made no second


def test_three_replicas_on_postgresql_create_one_audience_and_send_each_change_once(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    tiktok = f"http://127.0.0.1:{emulator_port}"
    emulate = ["emulate", "--port", str(emulator_port), "--control-token", ADMIN]
    with postgres_database() as store, contextlib.ExitStack() as stack:
        stack.enter_context(running(emulate, f"{tiktok}/marketing/_control/state", tmp_path / "emulator.log"))
        ready_at_once(tiktok)
        bases = []
        for n, replica_port in enumerate([port, free_port(), free_port()]):
            home = tmp_path / f"replica-{n}"
            home.mkdir()
            stack.enter_context(
                service(home, replica_port, audience_config(home, replica_port, store, emulator=tiktok))
            )
            bases.append(f"http://127.0.0.1:{replica_port}")
        started = time.time() - WINDOW_S - 1  # past the window already: members at once
        for n, base in enumerate(bases):  # each replica receives a third of the users, and every replica syncs
            post(base, "START_TRIAL", range(n, 900, 3), started)
        post(bases[1], "CANCEL_SUBSCRIPTION", range(0, 900, 4), started + 1)
        post(bases[2], "CANCEL_SUBSCRIPTION", range(0, 900, 4), started + 1)  # sent twice: acts once
        document = wait_settled(bases[0], 675, timeout_s=90)
        assert document["synced"] == 675 and document["errored"] == 0 and document["left"]["exited"] == 225
        assert tiktok_members(tiktok, document["tiktok_audience_id"]) == {hashed(i) for i in range(900) if i % 4}
        state = marketing_state(tiktok)
        assert len(state["audiences"]) == 1  # three replicas, one audience
        assert audience(bases[2])["synced"] == 675  # every replica reads the one ledger


def script(tiktok: str, spec: dict[str, Any]) -> None:
    answer = httpx.post(f"{tiktok}/marketing/_control/script", json=spec, headers=ADMIN_AUTH, timeout=10)
    assert answer.status_code == 200, answer.text


def wait_for(condition: Any, what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def test_revoked_token_deleted_audience_and_forget_as_ops_see_them(tmp_path: Path) -> None:
    port = free_port()
    base, tiktok = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/_emulator"
    config = audience_config(tmp_path, port, f"sqlite:///{tmp_path / 'forwarder.db'}")
    with service(tmp_path, port, config):
        ready_at_once(tiktok)
        past = time.time() - WINDOW_S - 1
        post(base, "START_TRIAL", range(3), past)
        document = wait_settled(base, 3)

        # Forget: gone at TikTok, and from our store (explain finds nothing).
        answer = httpx.post(f"{base}/v1/users/forget", json={"email": email(0)}, headers=ADMIN_AUTH, timeout=10)
        assert answer.status_code == 200 and answer.json()["removing_from_audiences"] == ["trial_no_purchase"]
        wait_for(lambda: hashed(0) not in tiktok_members(tiktok, document["tiktok_audience_id"]), "not removed")
        explain = subprocess_json(tmp_path, ["audiences", "explain", "--email", email(0)], config)
        assert explain["audiences"] == []
        assert httpx.post(f"{base}/v1/users/forget", json={"emial": "x"}, headers=ADMIN_AUTH).json()["field"] == "emial"

        # A revoked token pauses the advertiser, says what to do, keeps the changes, and resumes.
        script(tiktok, {"revoke_tokens": ["emulator-token"]})
        post(base, "START_TRIAL", [3], past)
        paused = wait_for(lambda: (d := audience(base))["status"] == "paused" and d, "never paused")
        assert paused["problem"]["problem"] == "invalid_connection" and paused["pending"] == 1
        assert "connect TikTok again" in paused["problem"]["fix"]
        page = httpx.get(f"{base}/", headers=ADMIN_AUTH, timeout=10).text
        assert 'data-audience-problem="trial_no_purchase"' in page and "What to do" in page
        script(tiktok, {"tokens": {"emulator-token": {"advertiser_ids": [ADVERTISER]}}})  # connected again
        resumed = wait_settled(base, 3)
        assert resumed["status"] == "active" and resumed["problem"] is None
        assert hashed(3) in tiktok_members(tiktok, document["tiktok_audience_id"])

        # Deleted in TikTok: "audience not found", with the setting that recreates it; nothing recreated.
        script(tiktok, {"delete_audiences": [document["tiktok_audience_id"]]})
        post(base, "START_TRIAL", [4], past)
        gone = wait_for(lambda: (d := audience(base))["status"] == "not_found" and d, "never not_found")
        assert gone["size"]["note"] == "audience not found" and "recreate_if_deleted" in gone["problem"]["fix"]
        assert len(marketing_state(tiktok)["audiences"]) == 1


def subprocess_json(tmp_path: Path, args: list[str], config: Path) -> Any:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "forwarder", *args, "--config", str(config), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)

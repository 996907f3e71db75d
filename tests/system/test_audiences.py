"""Audiences end to end on real processes: `forwarder serve` with its embedded TikTok (Events and Marketing APIs),
users posted as an app would post them, the membership TikTok ends with checked user by user."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audience_processes import (
    ADMIN,
    ADMIN_AUTH,
    ADVERTISER,
    WINDOW_S,
    audience,
    audience_config,
    email,
    hashed,
    marketing_state,
    post,
    ready_at_once,
    script,
    service,
    tiktok_members,
    wait_for,
    wait_settled,
)
from tests.postgres import postgres_database
from tests.processes import free_port, running

pytestmark = pytest.mark.slow


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

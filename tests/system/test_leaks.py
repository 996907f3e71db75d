"""Small leaks (issue 12, item 9), each against a real `forwarder serve` on loopback: store files readable by
others, secrets echoed by TikTok into logs, the store and the API, a ready probe that says ready while ingest
refuses, and config errors that echo what may be a pasted secret."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.configs import service_config
from tests.conftest import event, wait_for
from tests.processes import free_port, running

pytestmark = pytest.mark.slow

INGEST_KEY = "ingest-key-5a1f0c9e"
SIGNED_KEY = "signed-key-77d2e1b4"
SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ACCESS_TOKEN = "access-token-3c9be4d1"
ADMIN_TOKEN = "admin-token-e81d0b6f"
LATE_TOKEN = "late-token-0f4d2a93"  # the token of a destination a reload adds
SECRETS = (INGEST_KEY, SIGNED_KEY, SIGNING_SECRET, ACCESS_TOKEN, ADMIN_TOKEN, LATE_TOKEN)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KEY = {"Authorization": f"Bearer {INGEST_KEY}"}
LATE_DESTINATION = f"""
[destinations.late]
event_source = "app"
event_source_id = "222"
access_token = "{LATE_TOKEN}"
"""


def write_config(tmp: Path, port: int, extra: str = "", store: str = "", delivery: str = "") -> Path:
    timing = {
        "poll_interval_s": 0.1,
        "retry_base_s": 0.1,
        "retry_cap_s": 0.2,
        "pause_probe_base_s": 0.2,
        "pause_probe_cap_s": 0.4,
        "timeout_s": 2.0,
        "lease_s": 6.0,
    }
    return service_config(
        tmp / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        embedded_emulator=True,
        top_level={"admin_token": ADMIN_TOKEN},
        store=store,
        delivery=[timing, delivery],
        sources={
            "app": {"keys": [INGEST_KEY]},
            "signed": {"keys": [SIGNED_KEY], "signing_secrets": [SIGNING_SECRET]},
        },
        destinations={"app": {"event_source": "app", "event_source_id": "111", "access_token": ACCESS_TOKEN}},
        extra=extra,
    )


@contextmanager
def serve(tmp: Path, **config: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    path = write_config(tmp, port, **config)
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(path)], f"{base}/healthz", tmp / "serve.log") as process:
        yield base, process


def store_files(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("forwarder.db*"))


def test_store_files_are_created_readable_by_the_owner_only(tmp_path: Path) -> None:
    with serve(tmp_path) as (base, _):
        posted = httpx.post(f"{base}/v1/events", json=event(event_id="mode-1"), headers=KEY, timeout=10)
        assert posted.status_code == 202
        wait_for(lambda: httpx.get(f"{base}/_emulator/_control/events", headers=ADMIN).json()["count"] == 1)
        running_files = {path.name: stat.S_IMODE(path.stat().st_mode) for path in store_files(tmp_path)}
    assert {"forwarder.db", "forwarder.db-wal", "forwarder.db-shm"} <= set(running_files)
    assert running_files == dict.fromkeys(running_files, 0o600)
    stopped = {path.name: stat.S_IMODE(path.stat().st_mode) for path in store_files(tmp_path)}
    assert stopped == dict.fromkeys(stopped, 0o600)


def test_an_existing_store_file_open_to_others_is_tightened_and_logged(tmp_path: Path) -> None:
    database = tmp_path / "forwarder.db"
    database.touch()
    database.chmod(0o644)
    with serve(tmp_path):
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in store_files(tmp_path)}
    assert modes == dict.fromkeys(modes, 0o600)
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if line.startswith("{")]
    (tightened,) = [line for line in lines if line["event"] == "store.file_mode_tightened"]
    assert tightened["was"] == "0o644" and tightened["mode"] == "0o600"


def echo_of(code: int, secrets: tuple[str, ...]) -> dict[str, object]:
    """A TikTok answer whose message echoes secrets back (say, a debug echo of the request)."""
    return {"code": code, "message": f"invalid request, debug: {' '.join(secrets)}"}


def wait_for_state(base: str, event_id: str, destination: str, state: str) -> None:
    def reached() -> bool:
        deliveries = httpx.get(f"{base}/v1/events/{event_id}", headers=ADMIN, timeout=10).json()["deliveries"]
        return any(d["destination"] == destination and d["state"] == state for d in deliveries)

    wait_for(reached, timeout_s=20)


def test_no_secret_echoed_by_tiktok_reaches_logs_store_or_api(tmp_path: Path) -> None:
    with serve(tmp_path) as (base, process):
        # Refused credentials (pauses the destination), then a retryable error, then a permanent one: the message
        # lands in the pause reason, the attempts, the last error and the dead letter.
        known = SECRETS[:-1]  # the late token is not configured yet
        script = {"responses": [echo_of(40105, known), echo_of(50002, known), echo_of(40002, known)]}
        httpx.post(f"{base}/_emulator/_control/script", json=script, headers=ADMIN).raise_for_status()
        assert httpx.post(f"{base}/v1/events", json=event(event_id="leak-1"), headers=KEY).status_code == 202
        wait_for_state(base, "leak-1", "app", "failed")

        # A reload adds a destination with a token of its own: it is scrubbed from then on, everywhere.
        config = tmp_path / "config.toml"
        config.write_text(config.read_text() + LATE_DESTINATION)
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: '"config.reloaded"' in (tmp_path / "serve.log").read_text())
        script = {"responses": [echo_of(40002, SECRETS), echo_of(40002, SECRETS)]}
        httpx.post(f"{base}/_emulator/_control/script", json=script, headers=ADMIN).raise_for_status()
        assert httpx.post(f"{base}/v1/events", json=event(event_id="leak-2"), headers=KEY).status_code == 202
        wait_for_state(base, "leak-2", "app", "failed")
        wait_for_state(base, "leak-2", "late", "failed")

        answers = {
            path: httpx.get(f"{base}{path}", headers=ADMIN, timeout=10).text
            for path in ("/v1/stats", "/v1/admin/dead", "/v1/events/leak-1", "/v1/events/leak-2", "/", "/metrics")
        }
        stored_while_running = b"".join(path.read_bytes() for path in store_files(tmp_path))
    assert "[redacted]" in answers["/v1/admin/dead"]  # the echo was stored, scrubbed
    stored = stored_while_running + b"".join(path.read_bytes() for path in store_files(tmp_path))
    log = (tmp_path / "serve.log").read_text()
    assert '"delivery.failed"' in log and "[redacted]" in log
    for secret in SECRETS:
        assert secret not in log, secret
        assert secret.encode() not in stored, secret
        for path, text in answers.items():
            assert secret not in text, (secret, path)


def test_readyz_is_not_ready_while_backpressure_refuses_ingest(tmp_path: Path) -> None:
    with serve(tmp_path, store="max_pending_events = 3", delivery="enabled = false") as (base, _):
        assert httpx.get(f"{base}/readyz").status_code == 200
        batch = {"events": [event(event_id=f"r-{i}") for i in range(3)]}
        assert httpx.post(f"{base}/v1/events", json=batch, headers=KEY).status_code == 202
        wait_for(lambda: httpx.get(f"{base}/readyz").status_code == 503)
        ready = httpx.get(f"{base}/readyz")
        refused = httpx.post(f"{base}/v1/events", json=event(event_id="r-late"), headers=KEY)
    assert ready.json()["status"] == "not_ready"
    assert "max_pending_events 3" in ready.json()["reason"]
    assert refused.status_code == 503 and refused.json()["error"] == "overloaded"


PASTED = "sk_live_51HxQpasted0secret"


def bad_allowed_ips_config(tmp: Path) -> Path:
    config = write_config(tmp, free_port())
    config.write_text(
        config.read_text().replace("[sources.signed]", f'allowed_ips = ["10.0.0.0/8", "{PASTED}"]\n[sources.signed]')
    )
    return config


def forwarder(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forwarder", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_bad_allowed_ips_entry_is_named_not_echoed(tmp_path: Path) -> None:
    config = bad_allowed_ips_config(tmp_path)
    checked = forwarder("check", "--config", str(config))
    started = forwarder("serve", "--config", str(config))
    assert checked.returncode == 1 and started.returncode == 2
    for result in (checked, started):
        output = result.stdout + result.stderr
        assert "sources.app.allowed_ips" in output and "entry 1" in output
        assert PASTED not in output
    # Workers build their app from the environment: the error they raise at startup does not echo it either.
    worker = subprocess.run(
        [sys.executable, "-c", "from forwarder.app import create_app; create_app()"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "FORWARDER_CONFIG": str(config)},
    )
    assert worker.returncode != 0 and "entry 1" in worker.stderr
    assert PASTED not in worker.stderr

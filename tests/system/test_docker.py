"""The Docker image, read from its Dockerfile (no Docker engine runs in CI): its environment names files only, its
defaults (/data, 0.0.0.0, the shipped tables) yield to the mounted config, and its HEALTHCHECK works."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from forwarder.healthcheck import health_url
from forwarder.settings import load_settings
from tests.configs import service_config
from tests.conftest import REPO
from tests.processes import free_port, running
from tests.rigs import write_config


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    joined, found = "", []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        joined += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, arguments = joined.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
            joined = ""
    return found


def all_of(keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions() if name == keyword]


def image_env() -> dict[str, str]:
    return dict(item.split("=", 1) for arguments in all_of("ENV") for item in shlex.split(arguments))


def image_path(source: str) -> PurePosixPath:
    """Where `COPY source dest` puts `source` in the image (dest relative to WORKDIR)."""
    [workdir] = all_of("WORKDIR")
    for arguments in all_of("COPY"):
        *sources, dest = arguments.split()
        if source in sources:
            return PurePosixPath(workdir) / dest
    raise AssertionError(f"the Dockerfile does not copy {source}")


def test_the_image_environment_names_files_and_sets_no_setting() -> None:
    """Every FORWARDER_<setting> in the image's environment would beat the mounted config (env > TOML)."""
    env = image_env()
    assert set(env) == {"FORWARDER_CONFIG", "FORWARDER_DEFAULTS"}
    assert env["FORWARDER_DEFAULTS"] == str(image_path("deploy/image-defaults.toml"))


def test_the_image_defaults_are_data_and_all_interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDER_DEFAULTS", str(REPO / "deploy" / "image-defaults.toml"))
    monkeypatch.delenv("FORWARDER_CONFIG", raising=False)
    settings = load_settings()
    assert settings.server.host == "0.0.0.0"
    assert settings.store.sqlite_path.parent == Path("/data")
    assert PurePosixPath(settings.mappings_dir) == image_path("mappings")  # the tables the image ships
    assert "/data" in " ".join(all_of("VOLUME")) and all_of("USER") == ["forwarder"]
    assert "chown forwarder /data" in " ".join(all_of("RUN"))


def test_the_mounted_config_beats_the_image_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDER_DEFAULTS", str(REPO / "deploy" / "image-defaults.toml"))
    config = service_config(
        tmp_path / "config.toml", mappings_dir="/etc/forwarder/mappings", watch_config=None, port=9090
    )
    settings = load_settings(config)
    assert settings.mappings_dir == Path("/etc/forwarder/mappings")  # the config's, not the image's
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9090)  # a section merges with the defaults
    assert settings.store.url == "sqlite:////data/forwarder.db"
    monkeypatch.setenv("FORWARDER_MAPPINGS_DIR", "/elsewhere")
    assert load_settings(config).mappings_dir == Path("/elsewhere")  # the environment still beats both


def test_the_healthcheck_asks_the_port_the_config_names(tmp_path: Path) -> None:
    [healthcheck] = all_of("HEALTHCHECK")
    command = json.loads(healthcheck.partition(" CMD ")[2])
    assert command[0] == "python"
    port = free_port()
    config = write_config(tmp_path, port, "https://tiktok.invalid", emulator=False)
    env = {**os.environ, "FORWARDER_CONFIG": str(config)}

    def probe() -> int:
        return subprocess.run([sys.executable, *command[1:]], env=env, cwd=tmp_path, capture_output=True).returncode

    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp_path / "serve.log", cwd=tmp_path):
        assert probe() == 0
    assert probe() == 1  # stopped: unhealthy
    assert health_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/healthz"
    assert health_url("::", 8080) == "http://127.0.0.1:8080/healthz"
    assert health_url("::1", 9) == "http://[::1]:9/healthz"


def test_dockerignore_keeps_stores_envs_and_venvs_out_but_not_what_the_build_copies() -> None:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in ("", "#")
    ]
    for must in (".git", ".venv", "*.db", ".env"):
        assert must in patterns
    copied = [source for arguments in all_of("COPY") for source in arguments.split()[:-1]]
    assert "forwarder" in copied and "mappings" in copied
    for source in copied:
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in patterns), source

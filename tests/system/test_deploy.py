"""deploy/: the replicas trust nginx's fixed address alone, and nginx's config parses and names the client."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from forwarder.settings import ServerSettings
from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def test_the_deploy_config_trusts_only_the_nginx_address() -> None:
    # The rest of the file holds placeholders for the operator's key and app id.
    server = ServerSettings(**tomllib.loads((DEPLOY / "config.toml").read_text())["server"])
    nginx = compose()["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    assert server.trusted_proxies == [f"{nginx}/32"]
    [network] = compose()["networks"]["default"]["ipam"]["config"]
    address = ipaddress.ip_address(nginx)
    # Inside the compose subnet, outside the range other containers are given addresses from.
    assert address in ipaddress.ip_network(network["subnet"])
    assert address not in ipaddress.ip_network(network["ip_range"])


def test_nginx_replaces_forwarded_for_with_the_address_it_saw() -> None:
    directives = [" ".join(line.split()) for line in (DEPLOY / "nginx.conf").read_text().splitlines()]
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in directives
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in directives


def test_nginx_accepts_its_config(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light); CI runs this test")
    # Outside Docker there is no `forwarder` host to resolve; everything else is checked as shipped.
    site = (DEPLOY / "nginx.conf").read_text().replace("server forwarder:8080;", "server 127.0.0.1:8080;")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{ include {tmp_path}/site.conf; }}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr

"""`python -m forwarder.healthcheck`: exit 0 when the service this config describes answers `GET /healthz`.

The Docker image's HEALTHCHECK: it reads the port (and address) from the same settings `forwarder serve` uses, so a
config that moves the port does not make a healthy container look dead.
"""

from __future__ import annotations

import sys

import httpx

from .mapping.check import check_settings_file
from .settings import config_file_in_use

_WILDCARDS = ("0.0.0.0", "::", "")


def health_url(host: str, port: int) -> str:
    """Where to reach a server listening on `host`: loopback for the wildcard addresses."""
    host = "127.0.0.1" if host in _WILDCARDS else host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"


def main() -> int:
    settings, problems = check_settings_file(config_file_in_use(None))
    if settings is None:
        print("; ".join(str(problem) for problem in problems), file=sys.stderr)
        return 1
    url = health_url(settings.server.host, settings.server.port)
    try:
        answer = httpx.get(url, timeout=5)
    except httpx.TransportError as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if answer.status_code != 200:
        print(f"{url}: {answer.status_code}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

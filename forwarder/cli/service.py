"""The commands that run, check and query the service: serve, check, reload, explain, emulate."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ..app import create_app
from ..emulators import MARKETING_PATH, create_emulators
from ..explain import explain
from ..http.protocol import http_options
from ..logs import configure_logging, uvicorn_log_config
from ..mapping.check import check_all, check_settings_file
from ..mapping.planning import Routing
from ..multiprocess import run_workers
from ..settings import Settings, config_file_in_use
from ..tiktok.builder import TikTokPayloads
from ..tiktok.emulator import EmulatorState, configure, control_token_required
from ..tiktok.event_names import check_event_name
from ..tiktok.verify import verify_destinations


def load_or_exit(config: Path | None) -> Settings:
    settings, _, problems = check_all(config, check_event_name)
    for problem in problems:
        print(problem, file=sys.stderr)
    if settings is None or any(problem.level == "error" for problem in problems):
        sys.exit(2)
    return settings


def serve(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    if overrides:
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=overrides)})
    uvicorn_options: dict[str, Any] = {
        "log_config": uvicorn_log_config(),
        "access_log": False,
        "timeout_graceful_shutdown": int(settings.delivery.shutdown_grace_s + settings.delivery.timeout_s) + 1,
        **http_options(settings.server),
    }
    if settings.server.workers > 1:
        configure_logging(settings.log_level, settings.log_format, settings.secrets(), with_pid=True)
        run_workers(settings, config_file_in_use(args.config), **uvicorn_options)
        return 0
    app = create_app(settings, config_file=config_file_in_use(args.config))
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, **uvicorn_options)
    return 0


def check(args: argparse.Namespace) -> int:
    """Every problem at once; with --online, then one test event per destination to TikTok."""
    settings, tables, problems = check_all(args.config, check_event_name)
    for problem in problems:
        print(problem)
    errors = sum(problem.level == "error" for problem in problems)
    if settings is None or errors:
        return 1
    print(
        f"ok: {len(settings.sources)} source(s), {len(settings.destinations)} destination(s), "
        f"{len(tables)} mapping table(s), {len(problems)} warning(s)"
    )
    if not args.online:
        return 0
    verdicts = asyncio.run(verify_destinations(settings, test_event_code=args.test_event_code))
    for verdict in verdicts:
        print(verdict)
    return 0 if all(verdict.ok for verdict in verdicts) else 1


def reload(args: argparse.Namespace) -> int:
    """Ask the running service to reload, with the admin token and address from the config; 1 when refused."""
    settings, problems = check_settings_file(config_file_in_use(args.config))
    if settings is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    if settings.admin_token is None:
        print("the config sets no admin_token: the admin API is off", file=sys.stderr)
        return 2
    host = settings.server.host if settings.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    url = (args.url or f"http://{host}:{settings.server.port}").rstrip("/") + "/v1/admin/reload"
    try:
        response = httpx.post(
            url,
            json={"force": args.force},
            headers={"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"},
            timeout=120,
        )
    except httpx.TransportError as error:
        print(f"cannot reach the service at {url}: {error}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(f"{response.status_code}: {response.text[:500]}")
    return 0 if response.status_code == 200 else 1


def explain_event(args: argparse.Namespace) -> int:
    settings, tables, problems = check_all(args.config, check_event_name)
    if settings is None or any(problem.level == "error" for problem in problems):
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    source = args.source or next(iter(settings.sources), None)
    if source not in settings.sources:
        print(f"unknown source {source!r}; configured: {', '.join(settings.sources) or 'none'}", file=sys.stderr)
        return 2
    body = sys.stdin.buffer.read() if str(args.event_file) == "-" else args.event_file.read_bytes()
    result = explain(Routing(settings, tables, TikTokPayloads()), body, source, time.time())
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if "error" not in result else 1


def emulate(args: argparse.Namespace) -> int:
    configure_logging("info", "auto")
    state = EmulatorState()
    configure(
        state,
        {
            "latency_ms": args.latency_ms,
            "failure_ratio": args.failure_ratio,
            "rate_limit_per_s": args.rate_limit_per_s,
            "revoked_tokens": args.revoked_token or [],
        },
    )
    base = f"http://{args.host}:{args.port}"
    print(f"TikTok Events API emulator on {base}/open_api/v1.3/event/track/", file=sys.stderr)
    print(f"TikTok Marketing API emulator on {base}{MARKETING_PATH} (marketing.base_url)", file=sys.stderr)
    authorize = control_token_required(args.control_token) if args.control_token else None
    uvicorn.run(
        create_emulators(state, authorize=authorize),
        host=args.host,
        port=args.port,
        log_config=uvicorn_log_config(),
        access_log=False,
    )
    return 0

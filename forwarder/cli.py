"""The `forwarder` console script: serve, reload, check, stats, explain, mappings diff, events show, conflicts,
emulate."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from . import __version__
from .app import create_app
from .cli_output import chosen_format, conflicts_table, dead_table, emit, ledger_table, stats_table
from .dead_filters import FILTERS, dead_filter, is_narrowed
from .explain import explain
from .http.protocol import http_options
from .logs import configure_logging, uvicorn_log_config
from .mapping.check import check_all, check_mappings, check_settings_file
from .mapping.diff import diff_mappings, render_text
from .mapping.planning import Routing
from .multiprocess import run_workers
from .settings import Settings, config_file_in_use
from .stats import collect_stats
from .store import Store, make_store
from .tiktok.emulator import EmulatorState, configure, control_token_required, create_emulator
from .tiktok.verify import verify_destinations

T = TypeVar("T")


def _load_or_exit(config: Path | None) -> Settings:
    settings, _, problems = check_all(config)
    for problem in problems:
        print(problem, file=sys.stderr)
    if settings is None or any(problem.level == "error" for problem in problems):
        sys.exit(2)
    return settings


def serve(args: argparse.Namespace) -> int:
    settings = _load_or_exit(args.config)
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
    settings, tables, problems = check_all(args.config)
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


def stats(args: argparse.Namespace) -> int:
    if args.url:
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        response = httpx.get(args.url.rstrip("/") + "/v1/stats", headers=headers, timeout=10)
        if not response.is_success:
            print(f"{response.status_code}: {response.text[:500]}", file=sys.stderr)
            return 1
        emit(response.json(), chosen_format(args.format), stats_table)
        return 0
    settings = _load_or_exit(args.config)
    result = _with_store(settings, lambda store: collect_stats(store, settings, time.time()))
    if result is None:
        return 1
    emit(result, chosen_format(args.format), stats_table)
    return 0


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


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T | None:
    """Run `work` against the configured store, or say why there is none."""
    if settings.store.url.startswith("sqlite:///") and not settings.store.sqlite_path.exists():
        print(f"no store at {settings.store.sqlite_path}: has the service run with this config?", file=sys.stderr)
        return None

    async def run() -> T:
        store = make_store(settings.store)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def mappings_diff(args: argparse.Namespace) -> int:
    settings = _load_or_exit(args.config)
    current, _ = check_mappings(settings)  # _load_or_exit already refused errors in them
    candidate_settings = settings.model_copy(update={"mappings_dir": args.candidate_dir})
    candidate, candidate_problems = check_mappings(candidate_settings)
    for problem in candidate_problems:
        print(problem, file=sys.stderr)
    # A destination whose table does not load has nothing to compare (check now reports every table on its own).
    missing = sorted({destination.mapping for destination in settings.destinations.values()} - set(candidate))
    if not candidate or missing:
        print(f"the candidate tables cannot be loaded ({', '.join(missing)}): nothing to compare", file=sys.stderr)
        return 1
    if any(problem.level == "error" for problem in candidate_problems):
        print("a reload would refuse these tables; the events they affect are listed below", file=sys.stderr)
    records = _with_store(settings, lambda store: store.recent_inbound(args.limit))
    if records is None:
        return 1
    report = diff_mappings(settings, current, candidate, records)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(render_text(report, str(settings.mappings_dir), str(args.candidate_dir)))
    return 0


def dead(args: argparse.Namespace) -> int:
    settings = _load_or_exit(args.config)
    options = {key: getattr(args, key) for key in (*FILTERS, "limit")}
    try:
        where = dead_filter({key: value for key, value in options.items() if value is not None})
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    replaying = args.dead_command == "replay"
    if replaying and not args.all and not is_narrowed(where):
        flags = ", ".join("--" + name.replace("_", "-") for name in FILTERS)
        print(f"error: say which dead letters to replay ({flags}), or --all for every one", file=sys.stderr)
        return 2
    if not replaying or args.dry_run:
        letters = _with_store(settings, lambda store: store.dead_letters(where))
        if letters is None:
            return 1
        if replaying:  # --dry-run: what replay would send again, nothing changed
            document = {"would_replay": len(letters), "dead_letters": letters}
            emit(document, chosen_format(args.format), lambda d: dead_table(d["dead_letters"]) + " would be replayed")
            return 0
        emit({"count": len(letters), "dead_letters": letters}, chosen_format(args.format), _dead_list_table)
        return 0
    replayed = _with_store(settings, lambda store: store.replay_dead(where, time.time()))
    if replayed is None:
        return 1
    print(json.dumps({"replayed": replayed}))
    return 0


def event_ledger(args: argparse.Namespace) -> int:
    settings = _load_or_exit(args.config)
    ledger = _with_store(settings, lambda store: store.ledger(args.event_id))
    if ledger is None:
        return 1
    emit(ledger, chosen_format(args.format), ledger_table)
    return 0 if ledger["received"] or ledger["deliveries"] or ledger["orders"] else 1


def conflicts(args: argparse.Namespace) -> int:
    settings = _load_or_exit(args.config)
    if args.conflicts_command == "list":
        found = _with_store(settings, lambda store: store.order_conflicts(args.limit))
        if found is None:
            return 1
        emit({"count": len(found), "conflicts": found}, chosen_format(args.format), _conflicts_list_table)
        return 0
    released = _with_store(settings, lambda store: store.release_held(args.conflict_id, time.time()))
    if released is None:
        return 1
    print(json.dumps({"released": bool(released)}))
    return 0 if released else 1


def _dead_list_table(document: dict[str, Any]) -> str:
    return dead_table(document["dead_letters"])


def _conflicts_list_table(document: dict[str, Any]) -> str:
    return conflicts_table(document["conflicts"])


def explain_event(args: argparse.Namespace) -> int:
    settings, tables, problems = check_all(args.config)
    if settings is None or any(problem.level == "error" for problem in problems):
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    source = args.source or next(iter(settings.sources), None)
    if source not in settings.sources:
        print(f"unknown source {source!r}; configured: {', '.join(settings.sources) or 'none'}", file=sys.stderr)
        return 2
    body = sys.stdin.buffer.read() if str(args.event_file) == "-" else args.event_file.read_bytes()
    result = explain(Routing(settings, tables), body, source, time.time())
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
    print(f"TikTok Events API emulator on http://{args.host}:{args.port}/open_api/v1.3/event/track/", file=sys.stderr)
    authorize = control_token_required(args.control_token) if args.control_token else None
    uvicorn.run(
        create_emulator(state, authorize=authorize),
        host=args.host,
        port=args.port,
        log_config=uvicorn_log_config(),
        access_log=False,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forwarder", description=__doc__)
    parser.add_argument("--version", action="version", version=f"forwarder {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    config_help = "TOML config file (default: $FORWARDER_CONFIG, else settings from the environment only)"
    format_help = "table for people, json for scripts; times are ISO 8601 UTC (default: table at a terminal, else json)"

    p = commands.add_parser("serve", help="run the service: ingest API and delivery worker")
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--host", help="address to listen on (default: [server] host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: [server] port, 8080)")
    p.set_defaults(run=serve)

    p = commands.add_parser("reload", help="make the running service re-read its config and mapping tables")
    p.add_argument("--config", type=Path, help=config_help + "; gives the admin token and the address")
    p.add_argument("--url", help="the service's base URL (default: from [server] in the config)")
    p.add_argument("--force", action="store_true", help="apply even if it stops mapping event names in use")
    p.set_defaults(run=reload)

    p = commands.add_parser("check", help="validate the config and mapping tables; every problem at once")
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument(
        "--online",
        action="store_true",
        help="then send one test event per destination to tiktok.base_url: do its token and event source id work?",
    )
    p.add_argument(
        "--test-event-code",
        dest="test_event_code",
        help="the test event code for --online (default: the destination's test_event_code, else FORWARDER_CHECK)",
    )
    p.set_defaults(run=check)

    p = commands.add_parser("stats", help="per destination: received, duplicates, unmapped, pending, delivered...")
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--url", help="ask a running service (e.g. http://127.0.0.1:8080) instead of reading the store")
    p.add_argument("--token", help="admin token for --url, if the service requires one")
    p.add_argument("--format", choices=("table", "json"), help=format_help)
    p.set_defaults(run=stats)

    p = commands.add_parser("explain", help="print the exact TikTok request an event would produce per destination")
    p.add_argument("event_file", type=Path, help='JSON file with one event or {"events": [...]}; - for stdin')
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--source", help="the source whose routing to use (default: the first configured)")
    p.set_defaults(run=explain_event)

    p = commands.add_parser("mappings", help="work with mapping tables")
    mapping_commands = p.add_subparsers(dest="mappings_command", required=True)
    p = mapping_commands.add_parser("diff", help="replay stored events through the current and candidate tables")
    p.add_argument("candidate_dir", type=Path, help="a directory of candidate mapping tables")
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--limit", type=int, default=1000, help="how many of the latest stored events to replay")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=mappings_diff)

    p = commands.add_parser("dead", help="dead letters: events given up on")
    dead_commands = p.add_subparsers(dest="dead_command", required=True)
    for name, text in (("list", "list dead letters, newest first"), ("replay", "send them again (same event_id)")):
        p = dead_commands.add_parser(name, help=text)
        p.add_argument("--config", type=Path, help=config_help)
        p.add_argument("--destination", help="only this destination's")
        p.add_argument("--since", help="failed at or after (ISO 8601 or Unix time)")
        p.add_argument("--until", help="failed before (ISO 8601 or Unix time)")
        p.add_argument(
            "--tiktok-code", dest="tiktok_code", type=int, help="only those TikTok last refused with this code"
        )
        p.add_argument("--event", help="TikTok event name, e.g. Purchase")
        p.add_argument("--event-id", dest="event_id", help="only this event")
        p.add_argument("--limit", type=int, help="at most this many, newest first (default 1000)")
        p.add_argument("--format", choices=("table", "json"), help=format_help)
        if name == "replay":
            p.add_argument("--dry-run", action="store_true", help="list what would be replayed; change nothing")
            p.add_argument(
                "--all", action="store_true", help="replay every dead letter (needed when no filter is given)"
            )
        p.set_defaults(run=dead)

    p = commands.add_parser("events", help="the per-event ledger")
    event_commands = p.add_subparsers(dest="events_command", required=True)
    p = event_commands.add_parser("show", help="received when, mapped to what, every delivery attempt")
    p.add_argument("event_id", help="the event_id the sender gave (or the one the forwarder derived)")
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--format", choices=("table", "json"), help=format_help)
    p.set_defaults(run=event_ledger)

    p = commands.add_parser("conflicts", help="reports of an order that differ from its first report (held)")
    conflict_commands = p.add_subparsers(dest="conflicts_command", required=True)
    p = conflict_commands.add_parser("list", help="the latest order conflicts, newest first")
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--limit", type=int, default=100, help="how many of the latest conflicts (default 100)")
    p.add_argument("--format", choices=("table", "json"), help=format_help)
    p.set_defaults(run=conflicts)
    p = conflict_commands.add_parser("release", help="send a held report after all (its own event_id)")
    p.add_argument("conflict_id", type=int, help="the `id` that `conflicts list` shows")
    p.add_argument("--config", type=Path, help=config_help)
    p.set_defaults(run=conflicts)

    p = commands.add_parser("emulate", help="run a local TikTok Events API emulator")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9000, help="port to listen on (default 9000)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    p.add_argument("--failure-ratio", type=float, default=0.0, help="share of requests answered 40100")
    p.add_argument("--rate-limit-per-s", type=float, default=0.0, help="requests per second per token, then 40100")
    p.add_argument("--revoked-token", action="append", help="answer 40105 to this access token (repeatable)")
    p.add_argument(
        "--control-token", help="/_control/* routes need `Authorization: Bearer <this>` (default: open, for loopback)"
    )
    p.set_defaults(run=emulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

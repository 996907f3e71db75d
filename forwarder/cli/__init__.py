"""The `forwarder` console script: serve, reload, check, stats, explain, mappings diff, events show, conflicts,
audiences, users forget, report, emulate."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from .audiences import add_commands as add_audience_commands
from .records import conflicts, dead, event_ledger, mappings_diff, stats
from .report import add_report_command
from .service import check, emulate, explain_event, reload, serve


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

    add_audience_commands(commands, config_help, format_help)
    add_report_command(commands, config_help)

    p = commands.add_parser("emulate", help="run a local TikTok Events API emulator")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9000, help="port to listen on (default 9000)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="each answer waits this long after its request")
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

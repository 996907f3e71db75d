"""The commands that read or change the store: stats, mappings diff, dead letters, event ledger, conflicts."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from ..cli_output import chosen_format, conflicts_table, dead_table, emit, ledger_table, stats_table
from ..dead_filters import FILTERS, dead_filter, is_narrowed
from ..destination_kinds import describe_destinations
from ..mapping.check import check_mappings
from ..mapping.diff import diff_mappings, render_text
from ..settings import Settings
from ..stats import collect_stats
from ..store import Store, make_store
from ..tiktok.builder import TikTokPayloads
from ..tiktok.event_names import check_event_name
from .service import load_or_exit

T = TypeVar("T")


def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T | None:
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


def stats(args: argparse.Namespace) -> int:
    if args.url:
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        response = httpx.get(args.url.rstrip("/") + "/v1/stats", headers=headers, timeout=10)
        if not response.is_success:
            print(f"{response.status_code}: {response.text[:500]}", file=sys.stderr)
            return 1
        emit(response.json(), chosen_format(args.format), stats_table)
        return 0
    settings = load_or_exit(args.config)
    descriptions = asyncio.run(describe_destinations(settings))
    result = with_store(settings, lambda store: collect_stats(store, settings, time.time(), descriptions))
    if result is None:
        return 1
    emit(result, chosen_format(args.format), stats_table)
    return 0


def mappings_diff(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    # load_or_exit already refused errors in them
    current, _ = check_mappings(settings, check_event_name=check_event_name)
    candidate_settings = settings.model_copy(update={"mappings_dir": args.candidate_dir})
    candidate, candidate_problems = check_mappings(candidate_settings, check_event_name=check_event_name)
    for problem in candidate_problems:
        print(problem, file=sys.stderr)
    # A destination whose table does not load has nothing to compare (check now reports every table on its own).
    missing = sorted({destination.mapping for destination in settings.destinations.values()} - set(candidate))
    if not candidate or missing:
        print(f"the candidate tables cannot be loaded ({', '.join(missing)}): nothing to compare", file=sys.stderr)
        return 1
    if any(problem.level == "error" for problem in candidate_problems):
        print("a reload would refuse these tables; the events they affect are listed below", file=sys.stderr)
    records = with_store(settings, lambda store: store.recent_inbound(args.limit))
    if records is None:
        return 1
    report = diff_mappings(settings, current, candidate, records, TikTokPayloads(), check_event_name)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(render_text(report, str(settings.mappings_dir), str(args.candidate_dir)))
    return 0


def dead(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
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
        letters = with_store(settings, lambda store: store.dead_letters(where))
        if letters is None:
            return 1
        if replaying:  # --dry-run: what replay would send again, nothing changed
            document = {"would_replay": len(letters), "dead_letters": letters}
            emit(document, chosen_format(args.format), lambda d: dead_table(d["dead_letters"]) + " would be replayed")
            return 0
        emit({"count": len(letters), "dead_letters": letters}, chosen_format(args.format), _dead_list_table)
        return 0
    replayed = with_store(settings, lambda store: store.replay_dead(where, time.time()))
    if replayed is None:
        return 1
    print(json.dumps({"replayed": replayed}))
    return 0


def event_ledger(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    ledger = with_store(settings, lambda store: store.ledger(args.event_id))
    if ledger is None:
        return 1
    emit(ledger, chosen_format(args.format), ledger_table)
    return 0 if ledger["received"] or ledger["deliveries"] or ledger["orders"] else 1


def conflicts(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    if args.conflicts_command == "list":
        found = with_store(settings, lambda store: store.order_conflicts(args.limit))
        if found is None:
            return 1
        emit({"count": len(found), "conflicts": found}, chosen_format(args.format), _conflicts_list_table)
        return 0
    released = with_store(settings, lambda store: store.release_held(args.conflict_id, time.time()))
    if released is None:
        return 1
    print(json.dumps({"released": bool(released)}))
    return 0 if released else 1


def _dead_list_table(document: dict[str, Any]) -> str:
    return dead_table(document["dead_letters"])


def _conflicts_list_table(document: dict[str, Any]) -> str:
    return conflicts_table(document["conflicts"])

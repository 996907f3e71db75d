"""`forwarder audiences list|show|explain` and `forwarder users forget`: read and act on the audience ledger."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..audiences.identify import KINDS, hashed_identifiers
from ..audiences.past import run_once
from ..audiences.report import FIGURES, audience_documents
from ..cli_output import chosen_format, emit
from ..errors import PayloadError
from ..settings import Settings
from ..store import Store
from .audience_performance import show_performance
from .records import with_store
from .service import load_or_exit


def add_commands(commands: Any, config_help: str, format_help: str) -> None:
    p = commands.add_parser("audiences", help="audiences synced to TikTok: list, show NAME, explain a user")
    audience_commands = p.add_subparsers(dest="audiences_command", required=True)
    for name, text in (
        ("list", "every audience: status, entered, synced, not synced, pending, errored, size"),
        ("show", "one audience: its figures, TikTok side, problem and what to do, adds and deletes per day"),
        ("explain", "why a user is in, out, waiting or not synced, per audience, with TikTok's request ids"),
        ("performance", "goal conversions, lift against the control group with its 95% interval, the funnel"),
    ):
        p = audience_commands.add_parser(name, help=text)
        if name in ("show", "performance"):
            p.add_argument("name", help="the audience's name ([audiences.NAME])")
        if name == "explain":
            _identifier_options(p)
        p.add_argument("--config", type=Path, help=config_help)
        p.add_argument("--format", choices=("table", "json"), help=format_help)
        p.set_defaults(run=audiences)
    p = audience_commands.add_parser("run", help="evaluate a past-behaviour audience now, outside its schedule")
    p.add_argument("name", help="the audience's name ([audiences.NAME] with `past`)")
    p.add_argument("--config", type=Path, help=config_help)
    p.set_defaults(run=run_past)
    p = commands.add_parser("users", help="people in audiences")
    user_commands = p.add_subparsers(dest="users_command", required=True)
    p = user_commands.add_parser("forget", help="remove a user from every audience at TikTok and erase what we hold")
    _identifier_options(p)
    p.add_argument("--config", type=Path, help=config_help)
    p.set_defaults(run=forget)


def _identifier_options(parser: argparse.ArgumentParser) -> None:
    for kind in KINDS:
        parser.add_argument(f"--{kind.replace('_', '-')}", dest=kind, help=f"the user's {kind} (hashed here)")


def _pairs(args: argparse.Namespace, settings: Settings) -> list[tuple[str, str]] | None:
    values = {kind: getattr(args, kind) for kind in KINDS if getattr(args, kind) is not None}
    try:
        return hashed_identifiers(values, settings.tiktok.default_phone_region)
    except PayloadError as error:
        print(f"--{error.field.replace('_', '-')}: {error.message}", file=sys.stderr)
        return None


def audiences(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    output = chosen_format(args.format)
    if args.audiences_command == "performance":
        return show_performance(args, settings)
    if args.audiences_command == "explain":
        pairs = _pairs(args, settings)
        if pairs is None:
            return 2

        async def rows(store: Store) -> list[dict[str, Any]]:
            return await store.audiences.members_of(pairs)

        found = with_store(settings, rows)
        if found is None:
            return 1
        emit({"user": [kind for kind, _ in pairs], "audiences": [_why(r) for r in found]}, output, _explained)
        return 0
    documents = with_store(settings, lambda store: audience_documents(store, settings))
    if documents is None:
        return 1
    if args.audiences_command == "show":
        if args.name not in documents:
            print(f"no audience {args.name!r}; configured: {', '.join(documents) or 'none'}", file=sys.stderr)
            return 1
        emit(documents[args.name], output, _shown)
        return 0
    emit(list(documents.values()), output, _listed)
    return 0


def forget(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    pairs = _pairs(args, settings)
    if pairs is None:
        return 2
    found = with_store(settings, lambda store: store.audiences.forget(pairs, time.time()))
    if found is None:
        return 1
    print(f"{found} user(s) forgotten; their removal from TikTok audiences goes out with the next sync")
    return 0


def _why(row: dict[str, Any]) -> dict[str, Any]:
    if row["forgetting"]:
        why = "forgotten: being removed from TikTok"
    elif row["held"]:
        why = f"not synced: {row['held'].replace('_', ' ')}"
    elif row["errored"]:
        why = f"errored: {row['errored'].replace('_', ' ')} (given up on)"
    elif row["state"] == "pending":
        why = "waiting: enters when its unless window passes"
    elif row["state"] == row["synced"]:
        why = f"{row['state']}: TikTok has it"
    else:
        why = f"{row['state']}: not acknowledged by TikTok yet ({row['attempts']} attempts)"
    return {**row, "why": why}


def _explained(document: dict[str, Any]) -> str:
    lines = [f"user known by: {', '.join(document['user'])}"]
    if not document["audiences"]:
        lines.append("in no audience (or not known)")
    for row in document["audiences"]:
        lines.append(f"{row['audience']}: {row['why']}; request ids: {', '.join(row['request_ids']) or '-'}")
    return "\n".join(lines)


def _listed(documents: list[dict[str, Any]]) -> str:
    header = ["audience", "status", *FIGURES, "size"]
    rows = [
        [d["name"], d["status"], *(str(d[f]) for f in FIGURES), str(d["size"]["note"] or d["size"]["now"] or "-")]
        for d in documents
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in [header, *rows])


def _shown(document: dict[str, Any]) -> str:
    lines = [f"{document['name']}: {document['status_text']} (TikTok audience {document['tiktok_audience_id']})"]
    lines += [f"  {figure}: {document[figure]}" for figure in FIGURES]
    lines.append(f"  size: {document['size']['note'] or document['size']['now']}")
    if document["problem"]:
        problem = document["problem"]
        lines.append(f"  problem: {problem['problem']}: {problem['cause']}; what to do: {problem['fix']}")
    lines += [f"  {d['day']}: +{d['adds']} -{d['deletes']}" for d in document["daily"][:14]]
    return "\n".join(lines)


def run_past(args: argparse.Namespace) -> int:
    """Run a past-behaviour rule now; the running service sends the changes with its next sync."""
    settings = load_or_exit(args.config)
    audience = settings.audiences.get(args.name)
    if audience is None or audience.past is None:
        past = [name for name, a in settings.audiences.items() if a.past is not None]
        print(f"no past-behaviour audience {args.name!r}; configured: {', '.join(past) or 'none'}", file=sys.stderr)
        return 1

    async def work(store: Store) -> dict[str, Any] | None:
        last = (await store.audiences.states()).get(args.name, {}).get("past_run_at")
        return await run_once(store, args.name, audience, last, time.time())

    summary = with_store(settings, work)
    if summary is None:
        print("not applied: another run was applied at the same moment; run again", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0

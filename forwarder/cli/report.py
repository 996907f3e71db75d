"""`forwarder report`: TikTok's spend and results with KPIs and blended ROAS, read from the store (as /v1/report)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from ..cli_output import emit
from ..http.report import report_range
from ..reporting.export import to_csv, to_table
from ..reporting.report import ReportLevel, advertisers_today, build_report
from ..store import Store
from .records import with_store
from .service import load_or_exit

BY: dict[str, ReportLevel] = {"campaign": "campaign", "day": "day", "advertiser": "advertiser"}


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], config_help: str) -> None:
    p = commands.add_parser("report", help="TikTok's spend and results, KPIs and blended ROAS per campaign or day")
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--since", help="first advertiser day, YYYY-MM-DD (default: 6 days before --until)")
    p.add_argument("--until", help="last advertiser day, YYYY-MM-DD (default: today in the advertiser's time zone)")
    p.add_argument("--by", choices=tuple(BY), default="campaign", help="a line per campaign, per day, or totals")
    p.add_argument("--format", choices=("table", "csv", "json"), help="default: table at a terminal, else json")
    p.set_defaults(run=report)


def report(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    params = {"since": args.since or "", "until": args.until or ""}
    try:
        report_range(params, date.today())  # refuse a bad date before opening the store
    except ValueError as error:
        print(f"forwarder report: {error}", file=sys.stderr)
        return 2
    level = BY[args.by]

    async def read(store: Store) -> dict[str, Any]:
        since, until = report_range(params, await advertisers_today(store, time.time()))
        return await build_report(store, settings, since, until, level)

    document = with_store(settings, read)
    if document is None:
        return 1
    output = args.format or ("table" if sys.stdout.isatty() else "json")
    if output == "csv":
        sys.stdout.write(to_csv(document))
    else:
        emit(document, "json" if output == "json" else "table", to_table)
    return 0

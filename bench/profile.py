"""Where an ingested event's CPU goes: `forwarder serve` under the ingest benchmark's load, sampled with py-spy.

    .venv/bin/python bench/profile.py [--events 20] [--seconds 12] [--workers 1] [--delivery on|off]

The service runs as in bench/ingest.py (default settings, delivering to a separate `forwarder emulate` at 0 ms
unless `--delivery off`); py-spy (`pip install py-spy`, not a project dependency) samples each of its processes at
200 Hz while wrk posts. Printed per process: its CPU per event (from /proc) and the share of its busy samples in
each stage of the ingest path, a sample going to the innermost stage on its stack.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from baselines import cpu_us_per_event
from common import cpu_s, free_port, process_tree, server, write_config, wrk
from ingest import emulator

# Innermost match wins: a SHA-256 under `hashed_user` counts as user hashing, `hashed_user` under `Routing.plan`
# too, and what `Routing.plan` does itself as "planning, other".
STAGES = {
    "parse_events": "JSON parse",
    "shape_problem": "shape check (depth, NUL)",
    "_validate": "validation (pydantic)",
    "hashed_user": "user fields: normalise, SHA-256",
    "properties_for_tiktok": "properties typed for TikTok",
    "map_event": "mapping rules",
    "mapping_document": "rules' document, stored copy",
    "stored_document": "rules' document, stored copy",
    "TikTokPayloads.item": "TikTok body",
    "Routing.plan": "planning, other",
    "unknown_fields": "unknown-field warnings",
    "AudienceRules.signals": "audience rules",
    "AudienceRules.counted": "audience rules",
    "SQLiteStore.enqueue": "to the writer and back",
    "WriterClient._send": "to the writer and back",
    "WriterClient._read_answers": "to the writer and back",
    "accept_events": "bookkeeping, counters, answer",
    "EventsEndpoint.__call__": "HTTP: body, auth, response",
    "run_destination": "delivery",
    "commit_group": "writer: SQL and COMMIT",
    "Client.fill": "writer: read frames",
    "answer": "writer: answer",
}


def stage_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        stage = STAGES.get(frame.split(" (", 1)[0])
        if stage is not None:
            return stage
    return "HTTP server, event loop, other"


def summarise(samples: Path) -> tuple[int, Counter[str]]:
    """Busy samples of the main thread (idle worker threads excluded) and their count per stage."""
    stages: Counter[str] = Counter()
    for line in samples.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "Condition.wait" in stack or "_do_waitpid" in stack:  # threads parked in the pool, not work
            continue
        stages[stage_of(stack)] += int(count)
    return sum(stages.values()), stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20, help="events per request")
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--delivery", choices=("on", "off"), default="on")
    parser.add_argument("--keep", type=Path, help="copy py-spy's raw stacks (one file per process) into this folder")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("py-spy is needed: .venv/bin/pip install py-spy")
    delivery = args.delivery == "on"
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        run = Path(directory)
        tiktok_url, _ = stack.enter_context(emulator(run)) if delivery else ("http://127.0.0.1:9", None)
        port = free_port()
        config = write_config(
            run / "bench.toml", port=port, store_url=f"sqlite:///{run / 'bench.db'}", tiktok_url=tiktok_url,
            delivery=delivery, workers=args.workers,
        )  # fmt: skip
        command = [sys.executable, "-m", "forwarder", "serve", "--config", str(config)]
        service = stack.enter_context(server(command, f"http://127.0.0.1:{port}/healthz", run / "forwarder.log"))
        processes = [pid for pid in process_tree(service.pid) if _is_python(pid)]
        if args.workers > 1:
            processes = [pid for pid in processes if pid != service.pid]  # the supervisor only waits
        spies = {
            pid: subprocess.Popen(
                [py_spy, "record", "-r", "200", "-d", str(args.seconds), "-f", "raw", "-o", str(run / f"{pid}.txt"),
                 "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for pid in processes
        }  # fmt: skip
        cpu = {pid: cpu_s(pid) for pid in processes}
        result = wrk(
            f"http://127.0.0.1:{port}/v1/events", seconds=args.seconds, connections=args.connections, events=args.events
        )
        cpu = {pid: cpu_s(pid) - cpu[pid] for pid in processes}
        for spy in spies.values():
            spy.wait()
        print(
            f"{args.events} events per request, {args.workers} worker(s), delivery {args.delivery}: "
            f"{result.requests_s * args.events:,.0f} events/s under py-spy at 200 Hz"
        )
        for pid in processes:
            busy, stages = summarise(run / f"{pid}.txt")
            role = "writer" if _is_writer(pid) else "worker"
            us = cpu_us_per_event(cpu[pid], result, args.events)
            print(f"\n{role} {pid}: {us:.0f} us CPU per event")
            for stage, count in stages.most_common():
                print(f"  {100 * count / max(busy, 1):5.1f}%  {stage}")
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(run / f"{pid}.txt", args.keep / f"{role}-{pid}.txt")


def _command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def _is_python(pid: int) -> bool:
    return "resource_tracker" not in _command_line(pid)


def _is_writer(pid: int) -> bool:
    return "writer_process.py" in _command_line(pid)


if __name__ == "__main__":
    main()

"""The SQLite writer process: every write to the SQLite store, group-committed, in a process of its own.

Why a process and not a thread: CPython's GIL. The sqlite3 module releases the GIL around every statement
step and takes it back afterwards; while the event loop thread runs Python (under load, all the time), each
take-back waits for the interpreter's 5 ms switch interval. Measured on our 2-core box: a thread inserting
20-row groups fell from 83,000 rows/s to 740 rows/s beside one busy Python thread, and ingest requests
queued behind it. A process has its own interpreter: its SQLite work runs on the other core, and the event
loop pays only for pickling what it sends.

Clients: the parent over the child's stdin and stdout and, when started with a socket path (`server.workers`
> 1), every worker over that Unix socket, which lives in a private (0700) directory: frames are pickles, so
only our own processes may connect. Frames are a 4-byte big-endian length and a pickle. Clients send lists of
jobs `(job_id, operation, args)`; the writer answers each client's jobs of a group with a list of
`(job_id, error, result)`, where `error` is None or `(kind, message)` and kind is "store" (SQLite refused:
the caller may retry later) or "bug". All jobs read together, from every client, share one transaction and
one fsync (group commit); each runs in its own SAVEPOINT, so one failing job is rolled back alone. Answers
leave only after COMMIT returned: an acknowledged write is on disk. Ingest keys' rate limits (`take_key_token`)
touch no file: the writer keeps those buckets in memory for every worker and answers them at once. The writer
stops at EOF on stdin, after answering every job it read, and ignores SIGINT/SIGTERM so that a terminal's Ctrl-C
cannot cut a transaction short: the parent decides when it ends.

This file is run by path with `python -P` and imports only the standard library, so it starts in milliseconds:
it loads the package `writer` beside it (the process and its operations) by location, under the name `writer`,
without putting anything on sys.path and without the forwarder package. The client side is writer_client.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().with_name("writer")


def main(argv: list[str]) -> None:
    spec = importlib.util.spec_from_file_location(
        "writer", PACKAGE / "__init__.py", submodule_search_locations=[str(PACKAGE)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["writer"] = package
    spec.loader.exec_module(package)
    serve = importlib.import_module("writer.process").serve
    serve(argv[0], argv[1], int(argv[2]), argv[3] if len(argv) > 3 else None)


if __name__ == "__main__":
    main(sys.argv[1:])

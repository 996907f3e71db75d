"""The SQLite schema, created and upgraded by numbered migrations (sqlite-utils records which ran), and the database
file's permissions."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import sqlite_utils
import structlog
from sqlite_utils.migrations import Migrations

from .writer.db import connect
from .writer.orders import LEGACY_ORDER_SOURCE
from .writer.reports import METRIC_COLUMNS

log = structlog.get_logger(__name__)
migrations = Migrations("forwarder")
# What SQLite keeps beside the database file; it gives each the database file's mode when it creates it.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
FILE_MODE = 0o600


@migrations()
def m001_outbox(db: sqlite_utils.Database) -> None:
    for statement in (
        # Dedup keys outlive the outbox rows: they are kept for the dedup window, rows only until delivered.
        """CREATE TABLE dedup_keys (
             destination TEXT NOT NULL, event TEXT NOT NULL, event_id TEXT NOT NULL, first_seen REAL NOT NULL,
             PRIMARY KEY (destination, event, event_id)) WITHOUT ROWID""",
        "CREATE INDEX dedup_keys_first_seen ON dedup_keys (first_seen)",
        # next_attempt_at means: when due (pending), when the lease ends (in flight), when done (delivered).
        """CREATE TABLE outbox (
             id INTEGER PRIMARY KEY, destination TEXT NOT NULL, event TEXT NOT NULL, event_id TEXT NOT NULL,
             test_event_code TEXT, payload BLOB NOT NULL, state INTEGER NOT NULL DEFAULT 0,
             attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, lease_owner TEXT,
             created_at REAL NOT NULL, last_http_status INTEGER, last_code INTEGER, last_message TEXT,
             last_request_id TEXT)""",
        # Claims walk one destination's due rows, so a paused or slow destination costs the others nothing.
        "CREATE INDEX outbox_due ON outbox (destination, state, next_attempt_at)",
        "CREATE INDEX outbox_event_id ON outbox (event_id)",
        """CREATE TABLE attempts (
             id INTEGER PRIMARY KEY, outbox_id INTEGER NOT NULL, attempt INTEGER NOT NULL, at REAL NOT NULL,
             http_status INTEGER, tiktok_code INTEGER, message TEXT, request_id TEXT)""",
        "CREATE INDEX attempts_outbox_id ON attempts (outbox_id)",
        """CREATE TABLE counters (
             scope TEXT NOT NULL, name TEXT NOT NULL, metric TEXT NOT NULL, value INTEGER NOT NULL,
             PRIMARY KEY (scope, name, metric)) WITHOUT ROWID""",
        """CREATE TABLE last_errors (
             destination TEXT PRIMARY KEY, at REAL NOT NULL, http_status INTEGER, tiktok_code INTEGER,
             message TEXT, request_id TEXT)""",
        """CREATE TABLE destination_pauses (
             destination TEXT PRIMARY KEY, reason TEXT NOT NULL, tiktok_code INTEGER, paused_at REAL NOT NULL,
             probe_at REAL NOT NULL, probes INTEGER NOT NULL)""",
    ):
        db.execute(statement)


@migrations()
def m002_mapping_version(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE outbox ADD COLUMN mapping_version TEXT")


@migrations()
def m003_inbound_and_series(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE inbound (
             id INTEGER PRIMARY KEY, received_at REAL NOT NULL, source TEXT NOT NULL, event_id TEXT NOT NULL,
             event TEXT NOT NULL, document BLOB NOT NULL)"""
    )
    db.execute("CREATE INDEX inbound_event_id ON inbound (event_id)")
    db.execute("CREATE INDEX inbound_received_at ON inbound (received_at)")
    # Counters per 5-minute bucket, for the status page's last hour and last day.
    db.execute(
        """CREATE TABLE series (
             bucket REAL NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, metric TEXT NOT NULL,
             value INTEGER NOT NULL, PRIMARY KEY (bucket, scope, name, metric)) WITHOUT ROWID"""
    )


@migrations()
def m004_pause_kind(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE destination_pauses ADD COLUMN kind TEXT NOT NULL DEFAULT 'credentials'")


@migrations()
def m005_cheaper_inbound(db: sqlite_utils.Database) -> None:
    # One index fewer per stored inbound event; retention walks the rowid instead.
    db.execute("DROP INDEX inbound_received_at")


@migrations()
def m006_rate_buckets(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE rate_buckets (
             destination TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL)"""
    )


@migrations()
def m007_dedup_keys_lead_to_outbox_rows(db: sqlite_utils.Database) -> None:
    # Dedup keys lead with event_id and record their outbox row, so the ledger finds an event's rows through them
    # and the outbox's event_id index can go: one random B-tree insert per ingested event fewer.
    db.execute(
        """CREATE TABLE dedup_keys_by_event (
             event_id TEXT NOT NULL, destination TEXT NOT NULL, event TEXT NOT NULL, first_seen REAL NOT NULL,
             outbox_id INTEGER, PRIMARY KEY (event_id, destination, event)) WITHOUT ROWID"""
    )
    db.execute(
        """INSERT INTO dedup_keys_by_event
           SELECT d.event_id, d.destination, d.event, d.first_seen,
                  (SELECT max(o.id) FROM outbox AS o
                   WHERE o.event_id = d.event_id AND o.destination = d.destination AND o.event = d.event)
           FROM dedup_keys AS d"""
    )
    # Undelivered rows whose key the dedup window already dropped get one back (purge now keeps those keys).
    db.execute(
        """INSERT OR IGNORE INTO dedup_keys_by_event
           SELECT event_id, destination, event, created_at, max(id) FROM outbox WHERE state != 2
           GROUP BY event_id, destination, event"""
    )
    db.execute("DROP TABLE dedup_keys")
    db.execute("ALTER TABLE dedup_keys_by_event RENAME TO dedup_keys")
    db.execute("CREATE INDEX dedup_keys_first_seen ON dedup_keys (first_seen)")
    db.execute("DROP INDEX outbox_event_id")


@migrations()
def m008_order_keys(db: sqlite_utils.Database) -> None:
    # Orders become a dedup key of their own, per reporting source, beside the sender's event_id (which used to be
    # replaced by `order_<transaction id>`). Every report of an order that is not sent is recorded as a match.
    db.execute(
        """CREATE TABLE order_keys (
             destination TEXT NOT NULL, order_id TEXT NOT NULL, source TEXT NOT NULL, event_id TEXT NOT NULL,
             event TEXT NOT NULL, value REAL, currency TEXT, first_seen REAL NOT NULL,
             PRIMARY KEY (destination, order_id, source)) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX order_keys_first_seen ON order_keys (first_seen)")
    db.execute(
        """CREATE TABLE order_matches (
             id INTEGER PRIMARY KEY, at REAL NOT NULL, destination TEXT NOT NULL, order_id TEXT NOT NULL,
             kind TEXT NOT NULL, status TEXT NOT NULL, differs TEXT NOT NULL, outbox_id INTEGER,
             event_id TEXT NOT NULL, source TEXT NOT NULL, event TEXT NOT NULL, value REAL, currency TEXT,
             first_event_id TEXT NOT NULL, first_source TEXT NOT NULL, first_event TEXT NOT NULL, first_value REAL,
             first_currency TEXT)"""
    )
    db.execute("CREATE INDEX order_matches_event_id ON order_matches (event_id)")
    db.execute("CREATE INDEX order_matches_first_event_id ON order_matches (first_event_id)")
    # Orders stored before this migration keep deduplicating for the rest of the window, as they did then: against
    # every source (source '*'), their content compared only where the outbox row still says it.
    db.execute(
        f"""INSERT OR IGNORE INTO order_keys
           SELECT k.destination, substr(k.event_id, 7), '{LEGACY_ORDER_SOURCE}', k.event_id, k.event,
                  json_extract(CAST(o.payload AS TEXT), '$.properties.value'),
                  json_extract(CAST(o.payload AS TEXT), '$.properties.currency'), k.first_seen
           FROM dedup_keys AS k LEFT JOIN outbox AS o ON o.id = k.outbox_id AND o.event_id = k.event_id
           WHERE substr(k.event_id, 1, 6) = 'order_'
           ORDER BY k.first_seen"""
    )


@migrations()
def m009_not_forwarded(db: sqlite_utils.Database) -> None:
    # Events accepted and sent nowhere, per name: /v1/stats and the status page show what no rule maps.
    db.execute(
        """CREATE TABLE not_forwarded (
             event TEXT NOT NULL, source TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
             first_at REAL NOT NULL, last_at REAL NOT NULL, event_id TEXT NOT NULL,
             PRIMARY KEY (event, source, reason)) WITHOUT ROWID"""
    )


@migrations()
def m011_audiences(db: sqlite_utils.Database) -> None:
    # The membership ledger (store/sqlite/writer/audiences.py says how it is used); identities hashed only.
    db.executescript(
        """CREATE TABLE audience_identities (
             id_type TEXT NOT NULL, hash TEXT NOT NULL, user_key TEXT NOT NULL, PRIMARY KEY (id_type, hash))
             WITHOUT ROWID;
           CREATE INDEX audience_identities_user ON audience_identities (user_key);
           CREATE TABLE audience_members (
             audience TEXT NOT NULL, user_key TEXT NOT NULL, state TEXT NOT NULL, ids TEXT NOT NULL, held TEXT,
             entered_at REAL, due_at REAL, expires_at REAL, changed_at REAL NOT NULL,
             version INTEGER NOT NULL DEFAULT 1, synced TEXT NOT NULL DEFAULT 'out',
             synced_version INTEGER NOT NULL DEFAULT 0, synced_at REAL, lease_owner TEXT, lease_until REAL,
             next_attempt_at REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, first_failure_at REAL,
             problem TEXT, errored TEXT, request_ids TEXT NOT NULL DEFAULT '[]', forget INTEGER NOT NULL DEFAULT 0,
             dirty INTEGER GENERATED ALWAYS AS (
               state <> 'pending' AND state <> synced AND held IS NULL AND errored IS NULL) STORED,
             PRIMARY KEY (audience, user_key));
           CREATE INDEX audience_members_dirty ON audience_members (audience, changed_at) WHERE dirty;
           CREATE INDEX audience_members_pending ON audience_members (due_at) WHERE state = 'pending';
           CREATE INDEX audience_members_expiring ON audience_members (expires_at) WHERE state = 'in';
           CREATE INDEX audience_members_user ON audience_members (user_key);
           CREATE TABLE audience_seen (
             audience TEXT NOT NULL, event_id TEXT NOT NULL, action TEXT NOT NULL, at REAL NOT NULL,
             PRIMARY KEY (audience, event_id, action)) WITHOUT ROWID;
           CREATE INDEX audience_seen_at ON audience_seen (at);
           CREATE TABLE audiences (
             name TEXT PRIMARY KEY, tiktok_id TEXT, advertiser_id TEXT, status TEXT, problem TEXT,
             created_at REAL, ready_at REAL, creating_owner TEXT, creating_until REAL,
             size_now INTEGER, size_first INTEGER, size_at REAL, size_note TEXT, paused_until REAL);
           CREATE TABLE audience_daily (
             audience TEXT NOT NULL, day TEXT NOT NULL, adds INTEGER NOT NULL, deletes INTEGER NOT NULL,
             PRIMARY KEY (audience, day)) WITHOUT ROWID;"""
    )


@migrations()
def m010_marketing_connection(db: sqlite_utils.Database) -> None:
    # The credential Connect TikTok obtained (one at a time: id 1), and the OAuth states handed out, by digest so
    # a copy of the database cannot complete someone's authorisation.
    db.execute(
        """CREATE TABLE marketing_credential (
             id INTEGER PRIMARY KEY CHECK (id = 1), access_token TEXT NOT NULL, refresh_token TEXT,
             access_expires_at REAL, refresh_expires_at REAL, advertiser_ids TEXT NOT NULL, scopes TEXT NOT NULL,
             connected_at REAL NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE oauth_states (
             state_digest TEXT PRIMARY KEY, created_at REAL NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"""
    )


@migrations()
def m012_reports(db: sqlite_utils.Database) -> None:
    # TikTok's report rows: metrics as decimal TEXT (exact; NULL is TikTok's "-", unknown), upserted per
    # (advertiser, level, campaign or advertiser id, day in the advertiser's time zone).
    metrics = ", ".join(f"{name} TEXT" for name in METRIC_COLUMNS)
    for statement in (
        f"""CREATE TABLE report_rows (
             advertiser_id TEXT NOT NULL, level TEXT NOT NULL, object_id TEXT NOT NULL, day TEXT NOT NULL,
             currency TEXT NOT NULL, campaign_name TEXT, {metrics}, pulled_at REAL NOT NULL,
             PRIMARY KEY (advertiser_id, level, object_id, day)) WITHOUT ROWID""",
        "CREATE INDEX report_rows_day ON report_rows (day)",
        # A day is listed only once every page of a pull covering it was stored (with its rows, in one commit).
        """CREATE TABLE report_days (
             advertiser_id TEXT NOT NULL, day TEXT NOT NULL, pulled_at REAL NOT NULL, day_over INTEGER NOT NULL,
             PRIMARY KEY (advertiser_id, day)) WITHOUT ROWID""",
        """CREATE TABLE report_advertisers (
             advertiser_id TEXT PRIMARY KEY, name TEXT NOT NULL, currency TEXT NOT NULL, timezone TEXT NOT NULL,
             updated_at REAL NOT NULL)""",
        """CREATE TABLE report_pulls (
             id INTEGER PRIMARY KEY, at REAL NOT NULL, advertiser_id TEXT, since TEXT, until TEXT, what TEXT NOT NULL,
             pages INTEGER NOT NULL, rows INTEGER NOT NULL, request_id TEXT, result TEXT NOT NULL, message TEXT)""",
        "CREATE TABLE report_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
    ):
        db.execute(statement)


@migrations()
def m013_audience_activity(db: sqlite_utils.Database) -> None:
    # What past-behaviour rules and goals read (writer/activity.py): per hashed user, counted event and UTC day;
    # goal conversions one row each; when a member was first synced (lift counts from then); past runs.
    db.executescript(
        """CREATE TABLE audience_activity (
             activity TEXT NOT NULL, user_key TEXT NOT NULL, day TEXT NOT NULL, first_at REAL NOT NULL,
             last_at REAL NOT NULL, count INTEGER NOT NULL, value_sum REAL NOT NULL, consent TEXT,
             PRIMARY KEY (activity, day, user_key)) WITHOUT ROWID;
           CREATE INDEX audience_activity_user ON audience_activity (user_key);
           CREATE TABLE audience_conversions (
             goal TEXT NOT NULL, event_id TEXT NOT NULL, user_key TEXT NOT NULL, at REAL NOT NULL,
             value REAL NOT NULL, PRIMARY KEY (goal, event_id));
           CREATE INDEX audience_conversions_user ON audience_conversions (goal, user_key);
           CREATE INDEX audience_conversions_at ON audience_conversions (at);
           ALTER TABLE audience_members ADD COLUMN first_synced_at REAL;
           ALTER TABLE audiences ADD COLUMN past_run_at REAL;
           ALTER TABLE audiences ADD COLUMN past_run TEXT;"""
    )


def make_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal and -shm then inherit that mode), and take
    group and other permissions away from an existing one and its companions: it holds hashed PII and payloads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES)):
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                file.chmod(mode & 0o700)
                log.warning("store.file_mode_tightened", file=str(file), was=oct(mode), mode=oct(mode & 0o700))


def migrate(path: Path, synchronous: str) -> None:
    """Create or upgrade the schema (sqlite-utils records which migrations ran)."""
    make_private(path)
    with contextlib.closing(connect(str(path), synchronous)) as connection:
        migrations.apply(sqlite_utils.Database(connection))

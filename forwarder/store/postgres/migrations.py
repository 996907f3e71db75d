"""The PostgreSQL schema: numbered migrations, applied once each, one replica at a time."""

from __future__ import annotations

import asyncpg
import structlog

from ..sqlite.writer.orders import LEGACY_ORDER_SOURCE
from ..sqlite.writer.reports import METRIC_COLUMNS

log = structlog.get_logger(__name__)
_LOCK_ID = 7_301_234_567  # advisory lock serialising schema migrations between replicas starting together

MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_schema",
        """
        CREATE TABLE dedup_keys (
          destination text NOT NULL, event text NOT NULL, event_id text NOT NULL, first_seen double precision NOT NULL,
          PRIMARY KEY (destination, event, event_id));
        CREATE INDEX dedup_keys_first_seen ON dedup_keys (first_seen);
        CREATE TABLE outbox (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, destination text NOT NULL, event text NOT NULL,
          event_id text NOT NULL, test_event_code text, payload bytea NOT NULL, state smallint NOT NULL DEFAULT 0,
          attempts integer NOT NULL DEFAULT 0, next_attempt_at double precision NOT NULL, lease_owner text,
          created_at double precision NOT NULL, last_http_status integer, last_code integer, last_message text,
          last_request_id text, mapping_version text)
          WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);
        CREATE INDEX outbox_due ON outbox (destination, state, next_attempt_at);
        CREATE INDEX outbox_event_id ON outbox (event_id);
        CREATE TABLE attempts (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, outbox_id bigint NOT NULL, attempt integer NOT NULL,
          at double precision NOT NULL, http_status integer, tiktok_code integer, message text, request_id text);
        CREATE INDEX attempts_outbox_id ON attempts (outbox_id);
        CREATE TABLE counters (
          scope text NOT NULL, name text NOT NULL, metric text NOT NULL, value bigint NOT NULL,
          PRIMARY KEY (scope, name, metric));
        CREATE TABLE last_errors (
          destination text PRIMARY KEY, at double precision NOT NULL, http_status integer, tiktok_code integer,
          message text, request_id text);
        CREATE TABLE destination_pauses (
          destination text PRIMARY KEY, reason text NOT NULL, tiktok_code integer, paused_at double precision NOT NULL,
          probe_at double precision NOT NULL, probes integer NOT NULL, kind text NOT NULL DEFAULT 'credentials');
        CREATE TABLE inbound (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_at double precision NOT NULL,
          source text NOT NULL, event_id text NOT NULL, event text NOT NULL, document bytea NOT NULL);
        CREATE INDEX inbound_event_id ON inbound (event_id);
        CREATE TABLE series (
          bucket double precision NOT NULL, scope text NOT NULL, name text NOT NULL, metric text NOT NULL,
          value bigint NOT NULL, PRIMARY KEY (bucket, scope, name, metric));
        CREATE TABLE rate_buckets (
          destination text PRIMARY KEY, tokens double precision NOT NULL, updated_at double precision NOT NULL);
        """,
    ),
    (
        # Orders become a dedup key of their own, per reporting source, beside the sender's event_id (which used to
        # be replaced by `order_<transaction id>`); orders stored before keep deduplicating against every source.
        "m002_order_keys",
        f"""
        CREATE TABLE order_keys (
          destination text NOT NULL, order_id text NOT NULL, source text NOT NULL, event_id text NOT NULL,
          event text NOT NULL, value double precision, currency text, first_seen double precision NOT NULL,
          PRIMARY KEY (destination, order_id, source));
        CREATE INDEX order_keys_first_seen ON order_keys (first_seen);
        CREATE TABLE order_matches (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at double precision NOT NULL, destination text NOT NULL,
          order_id text NOT NULL, kind text NOT NULL, status text NOT NULL, differs text NOT NULL, outbox_id bigint,
          event_id text NOT NULL, source text NOT NULL, event text NOT NULL, value double precision, currency text,
          first_event_id text NOT NULL, first_source text NOT NULL, first_event text NOT NULL,
          first_value double precision, first_currency text);
        CREATE INDEX order_matches_event_id ON order_matches (event_id);
        CREATE INDEX order_matches_first_event_id ON order_matches (first_event_id);
        INSERT INTO order_keys
          SELECT DISTINCT ON (k.destination, substr(k.event_id, 7))
                 k.destination, substr(k.event_id, 7), '{LEGACY_ORDER_SOURCE}', k.event_id, k.event,
                 (convert_from(o.payload, 'UTF8')::jsonb #>> '{{properties,value}}')::double precision,
                 convert_from(o.payload, 'UTF8')::jsonb #>> '{{properties,currency}}', k.first_seen
          FROM dedup_keys AS k LEFT JOIN outbox AS o
            ON o.event_id = k.event_id AND o.destination = k.destination AND o.event = k.event
          WHERE left(k.event_id, 6) = 'order_'
          ORDER BY k.destination, substr(k.event_id, 7), k.first_seen;
        """,
    ),
    (
        # Ingest keys' rate limits: unlogged, a crash only refills the buckets.
        "m003_key_rate_buckets",
        """
        CREATE UNLOGGED TABLE key_rate_buckets (
          key_id text PRIMARY KEY, tokens double precision NOT NULL, updated_at double precision NOT NULL,
          took boolean NOT NULL);
        """,
    ),
    (
        # Events accepted and sent nowhere, per name: /v1/stats and the status page show what no rule maps.
        "m004_not_forwarded",
        """
        CREATE TABLE not_forwarded (
          event text NOT NULL, source text NOT NULL, reason text NOT NULL, count bigint NOT NULL,
          first_at double precision NOT NULL, last_at double precision NOT NULL, event_id text NOT NULL,
          PRIMARY KEY (event, source, reason));
        """,
    ),
    (
        # The credential Connect TikTok obtained (one at a time: id 1), and the OAuth states handed out, by digest.
        "m010_marketing_connection",
        """
        CREATE TABLE marketing_credential (
          id smallint PRIMARY KEY CHECK (id = 1), access_token text NOT NULL, refresh_token text,
          access_expires_at double precision, refresh_expires_at double precision, advertiser_ids text[] NOT NULL,
          scopes text[] NOT NULL, connected_at double precision NOT NULL);
        CREATE TABLE oauth_states (
          state_digest text PRIMARY KEY, created_at double precision NOT NULL, expires_at double precision NOT NULL);
        """,
    ),
    (
        # The audience membership ledger, as SQLite's m011_audiences (store/postgres/audiences.py says how it is
        # used); identities hashed only. `dirty` marks the rows to send to TikTok.
        "m011_audiences",
        """
        CREATE TABLE audience_identities (
          id_type text NOT NULL, hash text NOT NULL, user_key text NOT NULL, PRIMARY KEY (id_type, hash));
        CREATE INDEX audience_identities_user ON audience_identities (user_key);
        CREATE TABLE audience_members (
          audience text NOT NULL, user_key text NOT NULL, state text NOT NULL, ids text NOT NULL, held text,
          entered_at double precision, due_at double precision, expires_at double precision,
          changed_at double precision NOT NULL, version integer NOT NULL DEFAULT 1, synced text NOT NULL DEFAULT 'out',
          synced_version integer NOT NULL DEFAULT 0, synced_at double precision, lease_owner text,
          lease_until double precision, next_attempt_at double precision NOT NULL DEFAULT 0,
          attempts integer NOT NULL DEFAULT 0, first_failure_at double precision, problem text, errored text,
          request_ids jsonb NOT NULL DEFAULT '[]', forget boolean NOT NULL DEFAULT false,
          dirty boolean GENERATED ALWAYS AS (
            state <> 'pending' AND state <> synced AND held IS NULL AND errored IS NULL) STORED,
          PRIMARY KEY (audience, user_key));
        CREATE INDEX audience_members_dirty ON audience_members (audience, changed_at) WHERE dirty;
        CREATE INDEX audience_members_pending ON audience_members (due_at) WHERE state = 'pending';
        CREATE INDEX audience_members_expiring ON audience_members (expires_at) WHERE state = 'in';
        CREATE INDEX audience_members_user ON audience_members (user_key);
        CREATE TABLE audience_seen (
          audience text NOT NULL, event_id text NOT NULL, action text NOT NULL, at double precision NOT NULL,
          PRIMARY KEY (audience, event_id, action));
        CREATE INDEX audience_seen_at ON audience_seen (at);
        CREATE TABLE audiences (
          name text PRIMARY KEY, tiktok_id text, advertiser_id text, status text, problem text,
          created_at double precision, ready_at double precision, creating_owner text,
          creating_until double precision, size_now bigint, size_first bigint, size_at double precision,
          size_note text, paused_until double precision);
        CREATE TABLE audience_daily (
          audience text NOT NULL, day text NOT NULL, adds bigint NOT NULL, deletes bigint NOT NULL,
          PRIMARY KEY (audience, day));
        """,
    ),
    (
        "m012_reports",
        # TikTok's report rows, metrics as exact numeric (NULL: TikTok's "-", unknown); see sqlite m012_reports.
        f"""
        CREATE TABLE report_rows (
          advertiser_id text NOT NULL, level text NOT NULL, object_id text NOT NULL, day text NOT NULL,
          currency text NOT NULL, campaign_name text, {", ".join(f"{name} numeric" for name in METRIC_COLUMNS)},
          pulled_at double precision NOT NULL, PRIMARY KEY (advertiser_id, level, object_id, day));
        CREATE INDEX report_rows_day ON report_rows (day);
        CREATE TABLE report_days (
          advertiser_id text NOT NULL, day text NOT NULL, pulled_at double precision NOT NULL,
          day_over boolean NOT NULL, PRIMARY KEY (advertiser_id, day));
        CREATE TABLE report_advertisers (
          advertiser_id text PRIMARY KEY, name text NOT NULL, currency text NOT NULL, timezone text NOT NULL,
          updated_at double precision NOT NULL);
        CREATE TABLE report_pulls (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at double precision NOT NULL, advertiser_id text,
          since text, until text, what text NOT NULL, pages integer NOT NULL, rows integer NOT NULL,
          request_id text, result text NOT NULL, message text);
        CREATE TABLE report_lease (name text PRIMARY KEY, owner text NOT NULL, expires_at double precision NOT NULL);
        """,
    ),
    (
        "m013_audience_activity",
        # What past-behaviour rules and goals read; see sqlite m013_audience_activity.
        """
        CREATE TABLE audience_activity (
          activity text NOT NULL, user_key text NOT NULL, day text NOT NULL, first_at double precision NOT NULL,
          last_at double precision NOT NULL, count bigint NOT NULL, value_sum double precision NOT NULL,
          consent text, PRIMARY KEY (activity, day, user_key));
        CREATE INDEX audience_activity_user ON audience_activity (user_key);
        CREATE TABLE audience_conversions (
          goal text NOT NULL, event_id text NOT NULL, user_key text NOT NULL, at double precision NOT NULL,
          value double precision NOT NULL, PRIMARY KEY (goal, event_id));
        CREATE INDEX audience_conversions_user ON audience_conversions (goal, user_key);
        CREATE INDEX audience_conversions_at ON audience_conversions (at);
        ALTER TABLE audience_members ADD COLUMN first_synced_at double precision;
        ALTER TABLE audiences ADD COLUMN past_run_at double precision;
        ALTER TABLE audiences ADD COLUMN past_run text;
        """,
    ),
]


async def migrate(connection: asyncpg.Connection) -> None:
    """Apply the migrations not applied yet, in one transaction, under an advisory lock."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS forwarder_migrations (name text PRIMARY KEY, applied_at timestamptz "
            "NOT NULL DEFAULT now())"
        )
        applied = {row["name"] for row in await connection.fetch("SELECT name FROM forwarder_migrations")}
        for name, sql in MIGRATIONS:
            if name not in applied:
                await connection.execute(sql)
                await connection.execute("INSERT INTO forwarder_migrations (name) VALUES ($1)", name)
                log.info("store.migrated", migration=name)

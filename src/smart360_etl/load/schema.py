"""Numbered migrations of the SMART360 target schema and this tool's bookkeeping tables.

`init` applies the pending ones in one transaction; the ledger table `schema_migration` records which
ran, so applying them again changes nothing. New target changes are new entries at the end, never edits.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..db import one_row
from ..errors import TargetNotInitialised

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "consumer table, run ledger, rejects",
        """
        CREATE SCHEMA IF NOT EXISTS {schema};
        CREATE TABLE IF NOT EXISTS {schema}.consumer (
            consumer_id     text PRIMARY KEY,
            title           text,
            first_name      text NOT NULL,
            middle_name     text,
            last_name       text NOT NULL,
            suffix          text,
            address_line_1  text NOT NULL,
            address_line_2  text,
            city            text,
            state           text,
            zip_code        text,
            phone_number    text,
            phone_extension text,
            email_address   text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS {etl}.run (
            run_id             text PRIMARY KEY,
            job                text NOT NULL,
            started_at         timestamptz NOT NULL,
            finished_at        timestamptz,
            status             text NOT NULL,
            extracted          bigint,
            inserted           bigint,
            updated            bigint,
            unchanged          bigint,
            rejected           bigint,
            rejects_by_reason  jsonb,
            warnings_by_reason jsonb,
            error              text
        );
        CREATE TABLE IF NOT EXISTS {etl}.reject (
            run_id            text NOT NULL REFERENCES {etl}.run (run_id),
            source_row_number bigint NOT NULL,
            consumer_id       text,
            reasons           text[] NOT NULL,
            source_row        jsonb NOT NULL,
            PRIMARY KEY (run_id, source_row_number)
        );
        CREATE INDEX IF NOT EXISTS reject_consumer_id ON {etl}.reject (consumer_id);
    """,
    ),
    (
        2,
        "duplicate candidates, check results",
        """
        CREATE TABLE IF NOT EXISTS {etl}.duplicate_candidate (
            run_id        text NOT NULL,
            consumer_id_a text NOT NULL,
            consumer_id_b text NOT NULL,
            score         real NOT NULL,
            rule          text NOT NULL,
            PRIMARY KEY (run_id, consumer_id_a, consumer_id_b),
            CHECK (consumer_id_a < consumer_id_b)
        );
        ALTER TABLE {etl}.run ADD COLUMN IF NOT EXISTS checks jsonb;
    """,
    ),
    (
        3,
        "source schema per run, incremental watermarks and row hashes, consumer status",
        """
        ALTER TABLE {etl}.run ADD COLUMN IF NOT EXISTS source_schema jsonb;
        CREATE TABLE IF NOT EXISTS {etl}.watermark (
            job         text PRIMARY KEY,
            column_name text NOT NULL,
            value       text NOT NULL,
            run_id      text NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS {etl}.source_row (
            job         text NOT NULL,
            consumer_id text NOT NULL,
            row_hash    text NOT NULL,
            run_id      text NOT NULL,
            PRIMARY KEY (job, consumer_id)
        );
        ALTER TABLE {schema}.consumer ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'ACTIVE';
    """,
    ),
    (
        4,
        "tariff plans, accounts, meters, consumption readings, legacy-id crosswalk",
        """
        CREATE TABLE IF NOT EXISTS {schema}.tariff_plan (
            code    text PRIMARY KEY,
            name    text NOT NULL,
            service text NOT NULL,
            unit    text NOT NULL
        );
        CREATE TABLE IF NOT EXISTS {schema}.account (
            account_number        text PRIMARY KEY,
            consumer_id           text NOT NULL REFERENCES {schema}.consumer (consumer_id),
            status                text NOT NULL DEFAULT 'ACTIVE',
            category              text NOT NULL DEFAULT 'RESIDENTIAL',
            tariff_code           text REFERENCES {schema}.tariff_plan (code),
            payment_status        text CHECK (payment_status IN ('PAID', 'UNPAID', 'PARTIALLY_PAID', 'OVERDUE')),
            legacy_account_number text,
            created_at            timestamptz NOT NULL DEFAULT now(),
            updated_at            timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS account_consumer_id ON {schema}.account (consumer_id);
        CREATE TABLE IF NOT EXISTS {schema}.meter (
            meter_number   text PRIMARY KEY,
            service        text NOT NULL,
            unit           text NOT NULL,
            account_number text REFERENCES {schema}.account (account_number),
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS meter_account_number ON {schema}.meter (account_number);
        CREATE TABLE IF NOT EXISTS {schema}.consumption_reading (
            meter_number text NOT NULL REFERENCES {schema}.meter (meter_number),
            period       date NOT NULL,
            quantity     numeric NOT NULL CHECK (quantity >= 0),
            unit         text NOT NULL,
            reading_type text NOT NULL CHECK (reading_type IN ('ACTUAL', 'ESTIMATED', 'MIGRATED')),
            PRIMARY KEY (meter_number, period)
        );
        CREATE SEQUENCE IF NOT EXISTS {schema}.account_number_seq;
        CREATE TABLE IF NOT EXISTS {etl}.legacy_crosswalk (
            job          text NOT NULL,
            entity       text NOT NULL,
            legacy_key   text NOT NULL,
            smart360_key text NOT NULL,
            run_id       text NOT NULL,
            row_hash     text,
            PRIMARY KEY (job, entity, legacy_key)
        );
    """,
    ),
    (
        5,
        "a second person and a preferred name per consumer; warnings kept per row",
        """
        ALTER TABLE {schema}.consumer ADD COLUMN IF NOT EXISTS preferred_name text;
        ALTER TABLE {schema}.consumer ADD COLUMN IF NOT EXISTS secondary_first_name text;
        ALTER TABLE {schema}.consumer ADD COLUMN IF NOT EXISTS secondary_last_name text;
        CREATE TABLE IF NOT EXISTS {etl}.warning (
            run_id            text NOT NULL REFERENCES {etl}.run (run_id),
            source_row_number bigint NOT NULL,
            consumer_id       text,
            reason            text NOT NULL,
            field             text NOT NULL,
            source_column     text NOT NULL,
            source_value      text
        );
        CREATE INDEX IF NOT EXISTS warning_run_reason ON {etl}.warning (run_id, reason);
    """,
    ),
    (
        6,
        "the review loop: resubmitted rejects, the source's column order, each run's consumers",
        """
        ALTER TABLE {etl}.run ADD COLUMN IF NOT EXISTS resubmits text;
        ALTER TABLE {etl}.run ADD COLUMN IF NOT EXISTS source_columns text[];
        ALTER TABLE {etl}.reject ADD COLUMN IF NOT EXISTS resolved_by text;
        ALTER TABLE {etl}.reject ADD COLUMN IF NOT EXISTS resubmitted_row bigint;
        CREATE TABLE IF NOT EXISTS {etl}.run_consumer (
            run_id      text NOT NULL,
            consumer_id text NOT NULL,
            row_hash    bigint NOT NULL
        );
        CREATE INDEX IF NOT EXISTS run_consumer_run ON {etl}.run_consumer (run_id);
    """,
    ),
    (
        7,
        "meter interval reads partitioned by month and meter bucket; meters' service dates; units of work",
        """
        CREATE TABLE IF NOT EXISTS {schema}.interval_reading (
            meter_number   text NOT NULL,
            channel        text NOT NULL,
            interval_start timestamptz NOT NULL,
            seconds        integer NOT NULL CHECK (seconds > 0),
            value          numeric(20, 6) NOT NULL,
            unit           text NOT NULL,
            quality        text,
            vee_flags      text[],
            meter_bucket   smallint NOT NULL,
            PRIMARY KEY (meter_bucket, meter_number, channel, interval_start)
        ) PARTITION BY RANGE (interval_start);
        ALTER TABLE {schema}.meter ADD COLUMN IF NOT EXISTS installed_on date;
        ALTER TABLE {schema}.meter ADD COLUMN IF NOT EXISTS removed_on date;
        CREATE TABLE IF NOT EXISTS {etl}.interval_partition (
            target_schema text NOT NULL,
            month         date NOT NULL,
            timezone      text NOT NULL,
            buckets       integer NOT NULL,
            PRIMARY KEY (target_schema, month)
        );
        CREATE TABLE IF NOT EXISTS {etl}.interval_unit (
            run_id      text NOT NULL REFERENCES {etl}.run (run_id),
            unit_key    text NOT NULL,
            status      text NOT NULL,
            attempts    integer NOT NULL DEFAULT 0,
            counts      jsonb,
            findings    jsonb,
            error       text,
            started_at  timestamptz,
            finished_at timestamptz,
            PRIMARY KEY (run_id, unit_key)
        );
        CREATE TABLE IF NOT EXISTS {etl}.interval_reject (
            run_id       text NOT NULL,
            unit_key     text NOT NULL,
            source       text NOT NULL,
            line         bigint,
            meter_number text,
            reason       text NOT NULL,
            source_row   jsonb NOT NULL
        );
        CREATE INDEX IF NOT EXISTS interval_reject_unit ON {etl}.interval_reject (run_id, unit_key);
    """,
    ),
]

# One ETL schema can serve several target schemas side by side (mock loads in one database): a migration
# is recorded per target schema. Rows from before that (target_schema null) count for a target schema
# whose consumer table exists.
_LEDGER = """
    CREATE SCHEMA IF NOT EXISTS {etl};
    CREATE TABLE IF NOT EXISTS {etl}.schema_migration (
        version    integer NOT NULL,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE {etl}.schema_migration ADD COLUMN IF NOT EXISTS target_schema text;
    ALTER TABLE {etl}.schema_migration DROP CONSTRAINT IF EXISTS schema_migration_pkey;
    CREATE UNIQUE INDEX IF NOT EXISTS schema_migration_per_target
        ON {etl}.schema_migration (coalesce(target_schema, ''), version);
"""


def _compose(template: str, target: TargetConfig) -> sql.Composed:
    return sql.SQL(template).format(schema=sql.Identifier(target.schema_), etl=sql.Identifier(target.etl_schema))


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    query = "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL"
    return one_row(conn.execute(query, [schema, table]))[0]


def pending_migrations(conn: psycopg.Connection, target: TargetConfig) -> list[int]:
    """The migrations the job's target schema (with its ETL schema) has not had."""
    applied: set[int] = set()
    if _exists(conn, target.etl_schema, "schema_migration"):
        per_target = one_row(conn.execute(
            "SELECT count(*) > 0 FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'schema_migration' AND column_name = 'target_schema'", [target.etl_schema]
        ))[0]
        before = sql.SQL("true") if _exists(conn, target.schema_, "consumer") else sql.SQL("false")
        query = sql.SQL("SELECT version FROM {} WHERE ").format(target.table("schema_migration"))
        if per_target:
            query += sql.SQL("target_schema = {} OR (target_schema IS NULL AND {})").format(target.schema_, before)
        else:
            query += before
        applied = {row[0] for row in conn.execute(query)}
    return [version for version, _, _ in MIGRATIONS if version not in applied]


def migrate(conn: psycopg.Connection, target: TargetConfig) -> list[int]:
    """Apply pending migrations in one transaction; returns the versions applied (empty when none)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('smart360-etl:migrate', 0))")
        conn.execute(_compose(_LEDGER, target))
        pending = pending_migrations(conn, target)
        for version, name, body in MIGRATIONS:
            if version in pending:
                conn.execute(_compose(body, target))
                conn.execute(
                    sql.SQL("INSERT INTO {} (version, name, target_schema) VALUES (%s, %s, %s)").format(
                        target.table("schema_migration")
                    ),
                    [version, name, target.schema_],
                )
    return pending


def require_migrated(conn: psycopg.Connection, target: TargetConfig) -> None:
    pending = pending_migrations(conn, target)
    if pending:
        raise TargetNotInitialised(target.schema_, pending)


def column_limits(conn: psycopg.Connection, target: TargetConfig) -> dict[str, int]:
    """Column -> the most characters the consumer table holds there (varchar(n), char(n)); text has none."""
    rows = conn.execute(
        "SELECT column_name, character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'consumer' AND character_maximum_length IS NOT NULL",
        [target.schema_],
    ).fetchall()
    return dict(rows)

"""The run ledger: one row per run. Start and failure are written on their own connection, so a
rolled-back run still leaves its trace; success is written inside the run's own transaction."""

from __future__ import annotations

import json
from datetime import datetime

import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..db import connect, one_row
from ..errors import TargetError
from ..result import RunResult


def record_start(conn: psycopg.Connection, target: TargetConfig, run_id: str, job: str, started: datetime) -> None:
    conn.execute(
        sql.SQL("INSERT INTO {} (run_id, job, started_at, status) VALUES (%s, %s, %s, 'running')").format(
            target.table("run")
        ),
        [run_id, job, started],
    )


def record_start_apart(url: str, target: TargetConfig, run_id: str, job: str, started: datetime) -> int:
    """Committed at once on its own connection, so the run is on record even if it is rolled back.

    Runs of the job still `running` are marked `abandoned` (returns how many): the caller holds the job's
    run lock, so no live process holds them; they were killed (kill -9, a lost machine)."""
    with connect(
        url, target.connect_retries, "the SMART360 target", "target.url", TargetError, autocommit=True
    ) as conn:
        abandoned = conn.execute(
            sql.SQL(
                "UPDATE {} SET status = 'abandoned', finished_at = clock_timestamp(), "
                "error = 'the process ended without finishing the run (killed?); nothing of it was committed' "
                "WHERE job = %s AND status = 'running'"
            ).format(target.table("run")),
            [job],
        ).rowcount
        record_start(conn, target, run_id, job, started)
        return abandoned


def record_success(conn: psycopg.Connection, target: TargetConfig, run_id: str, result: RunResult) -> None:
    """Counts, reasons and check outcomes of a run that is about to commit (in its own transaction)."""
    counts = result.counts
    conn.execute(
        sql.SQL(
            "UPDATE {} SET finished_at = clock_timestamp(), status = %s, extracted = %s, inserted = %s, updated = %s, "
            "unchanged = %s, rejected = %s, rejects_by_reason = %s, warnings_by_reason = %s, checks = %s, "
            "source_schema = %s, source_columns = %s, resubmits = %s WHERE run_id = %s"
        ).format(target.table("run")),
        [
            result.status,
            counts["extracted"],
            counts["inserted"],
            counts["updated"],
            counts["unchanged"],
            counts["rejected"],
            json.dumps(result.rejects_by_reason),
            json.dumps(result.warnings_by_reason),
            json.dumps(result.checks),
            # A resubmission reads a file of the source's columns as text: the source's schema stays the drift
            # baseline.
            None if result.resubmits else json.dumps(result.source_schema),
            list(result.source_schema),
            result.resubmits,
            run_id,
        ],
    )


def record_failure(url: str, target: TargetConfig, run_id: str, job: str, started: datetime, error: str) -> None:
    """On its own connection, after the rollback; also for a run that failed before it was on record."""
    with connect(
        url, target.connect_retries, "the SMART360 target", "target.url", TargetError, autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} AS r (run_id, job, started_at, finished_at, status, error) "
                "VALUES (%s, %s, %s, clock_timestamp(), 'failed', %s) ON CONFLICT (run_id) DO UPDATE "
                "SET finished_at = clock_timestamp(), status = 'failed', error = excluded.error"
            ).format(target.table("run")),
            [run_id, job, started, error],
        )


def last_source_schema(conn: psycopg.Connection, target: TargetConfig, job: str) -> dict[str, str] | None:
    """The source's columns and types at the job's last run that loaded (None before the first)."""
    row = conn.execute(
        sql.SQL(
            "SELECT source_schema FROM {} WHERE job = %s AND status IN ('ok', 'checks_failed') "
            "AND source_schema IS NOT NULL ORDER BY started_at DESC LIMIT 1"
        ).format(target.table("run")),
        [job],
    ).fetchone()
    return row[0] if row else None


def last_started(conn: psycopg.Connection, target: TargetConfig, job: str) -> datetime | None:
    """When the job's most recent run started, whatever became of it."""
    query = sql.SQL("SELECT max(started_at) FROM {} WHERE job = %s").format(target.table("run"))
    return one_row(conn.execute(query, [job]))[0]


def history(conn: psycopg.Connection, target: TargetConfig, job: str, limit: int = 20) -> list[dict]:
    """The job's last runs, newest first, failed ones with their error; durations in seconds."""
    cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cursor.execute(
        sql.SQL(
            "SELECT run_id, started_at, round(extract(epoch FROM finished_at - started_at), 3)::float AS duration_s, "
            "status, extracted, inserted, updated, unchanged, rejected, resubmits, error FROM {} WHERE job = %s "
            "ORDER BY started_at DESC LIMIT %s"
        ).format(target.table("run")),
        [job, limit],
    ).fetchall()

"""`rejects`: a run's rejected records in the source's own columns and order, with their reasons and what to
do about each, for the people who fix them; the same for warnings; a summary per reason.

A rejects file goes back through the job as it is (`run --resubmit FILE`): the columns after the source's
own say which run and row each record came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..config import JobConfig
from ..errors import ConfigError
from ..load.schema import require_migrated
from ..reasons import CATALOG, FIXES
from .workbook import table_writer

# After the source's own columns: where the record came from, why it was rejected, what to do, whether a
# resubmission has loaded it since.
REJECT_COLUMNS = ("rejected_in_run", "source_row_number", "reasons", "how_to_fix", "resolved_by_run")
WARNING_COLUMNS = ("run_id", "source_row_number", "consumer_id", "reason", "field", "source_column", "source_value",
                   "how_to_fix")
BATCH = 5_000


@dataclass(frozen=True)
class Exported:
    run_id: str
    path: Path
    rows: int


def chosen_run(conn: psycopg.Connection, job: JobConfig, run_id: str | None) -> str:
    """`run_id` when it is a run of this job that loaded (its rejects are kept); else the job's last such run."""
    runs = job.target.table("run")
    if run_id is None:
        row = conn.execute(
            sql.SQL("SELECT run_id FROM {} WHERE job = %s AND status IN ('ok', 'checks_failed') "
                    "ORDER BY started_at DESC LIMIT 1").format(runs), [job.name]
        ).fetchone()
        if row is None:
            raise ConfigError(f"job {job.name} has no run that loaded yet: run it first")
        return str(row[0])
    row = conn.execute(sql.SQL("SELECT job, status FROM {} WHERE run_id = %s").format(runs), [run_id]).fetchone()
    if row is None or row[0] != job.name:
        raise ConfigError(f"run {run_id} is not a run of job {job.name}; `smart360-etl history` lists its runs")
    if row[1] not in ("ok", "checks_failed"):
        raise ConfigError(f"run {run_id} {row[1]}: it was rolled back and left no rejects")
    return run_id


def source_columns(conn: psycopg.Connection, job: JobConfig, run_id: str) -> list[str]:
    """The source's columns in the source's order, as the run read them."""
    row = conn.execute(sql.SQL("SELECT source_columns FROM {} WHERE run_id = %s").format(job.target.table("run")),
                       [run_id]).fetchone()
    if row and row[0]:
        return list(row[0])
    keys = conn.execute(  # a run from before the order was kept: the columns the rejects hold
        sql.SQL("SELECT DISTINCT jsonb_object_keys(source_row) FROM {} WHERE run_id = %s").format(
            job.target.table("reject")), [run_id]
    ).fetchall()
    return sorted(k[0] for k in keys)


def export_rejects(
    conn: psycopg.Connection, job: JobConfig, out: Path, run_id: str | None = None,
    reasons: tuple[str, ...] = (), unresolved: bool = False,
) -> Exported:
    """Write the run's rejects (of `reasons`, when given; only those no resubmission loaded, with `unresolved`)."""
    require_migrated(conn, job.target)
    _known(reasons)
    run_id = chosen_run(conn, job, run_id)
    columns = source_columns(conn, job, run_id)
    clash = sorted(set(columns) & set(REJECT_COLUMNS))
    if clash:
        raise ConfigError(f"the source has columns named {clash}, which the rejects file uses for itself")
    query = sql.SQL(
        "SELECT source_row_number, reasons, resolved_by, source_row FROM {} WHERE run_id = %s "
        "AND (cardinality(%s::text[]) = 0 OR reasons && %s::text[]) AND (NOT %s OR resolved_by IS NULL) "
        "ORDER BY source_row_number"
    ).format(job.target.table("reject"))
    def as_row(record: tuple) -> list:
        number, codes, resolved_by, row = record
        fixes = "; ".join(f"{code}: {FIXES.get(code, '')}" for code in codes)
        return [*(_value(row, c) for c in columns), run_id, number, ",".join(codes), fixes, resolved_by]

    params = [run_id, list(reasons), list(reasons), unresolved]
    written = _stream(conn, query, params, out, [*columns, *REJECT_COLUMNS], "rejects", as_row)
    return Exported(run_id, out, written)


def export_warnings(
    conn: psycopg.Connection, job: JobConfig, out: Path, run_id: str | None = None, reasons: tuple[str, ...] = ()
) -> Exported:
    """Write the run's warnings: the field, the source value it was given and why it was nulled or flagged."""
    require_migrated(conn, job.target)
    _known(reasons)
    run_id = chosen_run(conn, job, run_id)
    query = sql.SQL(
        "SELECT run_id, source_row_number, consumer_id, reason, field, source_column, source_value FROM {} "
        "WHERE run_id = %s AND (cardinality(%s::text[]) = 0 OR reason = ANY(%s::text[])) "
        "ORDER BY source_row_number, reason"
    ).format(job.target.table("warning"))
    written = _stream(conn, query, [run_id, list(reasons), list(reasons)], out, list(WARNING_COLUMNS), "warnings",
                      lambda record: [*record, FIXES.get(record[3], "")])
    return Exported(run_id, out, written)


def reject_summary(conn: psycopg.Connection, job: JobConfig, run_id: str | None = None) -> dict[str, Any]:
    """Per reason: the rejects, how many a resubmission has loaded since, the warnings, and what to do."""
    require_migrated(conn, job.target)
    run_id = chosen_run(conn, job, run_id)
    rejects = conn.execute(
        sql.SQL("SELECT reason, count(*), count(resolved_by) FROM {}, unnest(reasons) AS reason WHERE run_id = %s "
                "GROUP BY reason").format(job.target.table("reject")), [run_id]
    ).fetchall()
    warnings = conn.execute(
        sql.SQL("SELECT reason, count(*) FROM {} WHERE run_id = %s GROUP BY reason").format(
            job.target.table("warning")), [run_id]
    ).fetchall()
    by_reason: dict[str, dict[str, Any]] = {}
    for reason, count, resolved in rejects:
        by_reason[reason] = {"rejected": count, "resolved": resolved, "warned": 0}
    for reason, count in warnings:
        by_reason.setdefault(reason, {"rejected": 0, "resolved": 0})["warned"] = count
    for reason, entry in by_reason.items():
        entry["how_to_fix"] = FIXES.get(reason, "")
    totals = conn.execute(
        sql.SQL("SELECT count(*), count(resolved_by) FROM {} WHERE run_id = %s").format(job.target.table("reject")),
        [run_id],
    ).fetchone() or (0, 0)
    ordered = dict(sorted(by_reason.items(), key=lambda item: (-item[1]["rejected"], -item[1]["warned"], item[0])))
    return {"run_id": run_id, "job": job.name, "rejected_rows": totals[0], "resolved_rows": totals[1],
            "reasons": ordered}


def _stream(conn: psycopg.Connection, query: sql.Composed, params: list, out: Path, header: list[str],
            sheet: str, as_row: Callable[[tuple], list]) -> int:
    """The query's rows into `out` (CSV or a workbook) through a server-side cursor; how many were written."""
    written = 0
    with table_writer(out, header, sheet=sheet) as write, conn.cursor(name=f"smart360_etl_{sheet}") as cursor:
        cursor.itersize = BATCH
        cursor.execute(query, params)
        for record in cursor:
            write(as_row(record))
            written += 1
    return written


def _known(reasons: tuple[str, ...]) -> None:
    unknown = sorted(set(reasons) - {r.code for r in CATALOG})
    if unknown:
        raise ConfigError(f"unknown reasons {unknown}; reasons are: {', '.join(r.code for r in CATALOG)}")


def _value(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    return None if value is None else str(value)

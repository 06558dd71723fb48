"""`export`: one CSV per SMART360 table, for utilities that load through SMART360's upload module.

Each file is streamed with COPY ... TO STDOUT (no table is held in memory); the job file can rename
the columns to the upload templates' headers. `export --dry-run` writes the files from inside a dry run's
transaction, just before its rollback: the tables as the run would leave them, with nothing written.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from ..config import JobConfig
from ..errors import ConfigError

TABLES = ("tariff_plan", "consumer", "account", "meter", "consumption_reading")


def export_tables(conn: psycopg.Connection, job: JobConfig, out: Path) -> dict[str, int]:
    """Write `<out>/<table>.csv` for every table from what the target holds; returns table -> rows written."""
    check_headers(job)
    conn.rollback()  # one read-only snapshot for all files, so that they agree with each other
    conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    with conn.transaction():
        return export_within(conn, job, out)


def export_within(conn: psycopg.Connection, job: JobConfig, out: Path) -> dict[str, int]:
    """Write the files in the connection's current transaction (a dry run's, before its rollback)."""
    out.mkdir(parents=True, exist_ok=True)
    return {table: _export(conn, job, table, out / f"{table}.csv") for table in TABLES}


def check_headers(job: JobConfig) -> None:
    """`export.headers` may only name the exported tables (their columns are checked as each file is written)."""
    unknown = sorted(set(job.export.headers) - set(TABLES))
    if unknown:
        raise ConfigError(f"`export.headers` names unknown tables {unknown}; tables are: {', '.join(TABLES)}")


def _export(conn: psycopg.Connection, job: JobConfig, table: str, path: Path) -> int:
    identifier = job.target.table(table)
    columns = [c.name for c in conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(identifier)).description or []]
    headers = job.export.headers.get(table, {})
    wrong = sorted(set(headers) - set(columns))
    if wrong:
        raise ConfigError(
            f"`export.headers.{table}` names columns {wrong} the table lacks; it has: {', '.join(columns)}"
        )
    picked = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.Identifier(c), sql.Identifier(headers.get(c, c))) for c in columns
    )
    query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY 1) TO STDOUT (FORMAT csv, HEADER true)").format(
        picked, identifier
    )
    with path.open("wb") as handle, conn.cursor() as cursor:
        with cursor.copy(query) as copy:
            for block in copy:
                handle.write(block)
        return cursor.rowcount

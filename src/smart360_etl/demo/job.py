"""`smart360-etl demo`: an embedded PostgreSQL, a messy ABC Utility source, a SMART360 target, one full run."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig, parse_job
from ..load.copying import copy_frames
from ..load.reference import load_tariff_plans
from ..load.schema import migrate
from ..result import RunResult
from ..run.context import OnProgress
from ..run.pipeline import run
from .data import generate
from .embedded import embedded_postgres, with_database

log = logging.getLogger("smart360_etl")

SOURCE_DDL = """
CREATE TABLE consumer_data (
    consumer_id bigint, name text, address text, contact_number text, email_address text,
    account_number text, meter_number text, tariff_plan text, consumption_history text, payment_status text
)"""


def create_demo_source(url: str, rows: int, seed: int = 360) -> None:
    """Fill `consumer_data` at `url` with `rows` generated legacy records (COPY, not row by row)."""
    frame = generate(rows, seed)
    with psycopg.connect(url) as conn:
        conn.execute(SOURCE_DDL)
        copy_frames(conn, sql.Identifier("consumer_data"), [frame], frame.columns)


# ABC Utility's plans as SMART360 is configured with them, and the crosswalks from its legacy codes.
TARIFF_PLANS = pl.DataFrame(
    {
        "code": ["RES-STD", "RES-TOU", "RES-EV"],
        "name": ["Residential standard", "Residential time of use", "Residential electric vehicle"],
        "service": ["ELECTRICITY"] * 3,
        "unit": ["kWh"] * 3,
    }
)
CROSSWALKS = {
    "tariff_plan": {"Plan A": "RES-STD", "Plan B": "RES-TOU", "Plan C": "RES-EV"},
    "payment_status": {
        "Paid": "PAID",
        "P": "PAID",
        "1": "PAID",
        "Unpaid": "UNPAID",
        "Partially paid": "PARTIALLY_PAID",
    },
}
ACCOUNTS = {"number_format": r"ACCT-\d+"}


def demo_job(source_url: str, target_url: str, report_dir: Path, source: dict | None = None) -> JobConfig:
    return parse_job(
        {
            "name": "abc-utility-demo",
            "source": source or {"url": source_url, "table": "consumer_data"},
            "target": {"url": target_url},
            "region": "US",
            "report_dir": str(report_dir),
            "accounts": ACCOUNTS,
            "crosswalks": CROSSWALKS,
        },
        "demo job",
    )


DEMO_SOURCES = ("postgres", "mysql", "sqlite", "csv", "xlsx", "parquet")
MYSQL_SERVER = "mysql://root@127.0.0.1:3306"  # SMART360_DEMO_MYSQL_URL names another


def run_demo(rows: int, report_dir: Path, on_progress: OnProgress | None = None, kind: str = "postgres",
             interval_days: int | None = None, intervals_out: list[dict] | None = None) -> RunResult:
    """The demo; `kind` is the source's kind (the same generated records, written as that). With
    `interval_days`, the intervals job runs after it on reads generated for the meters it migrated; its
    report is appended to `intervals_out`."""
    with embedded_postgres() as server_url:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE abc_utility")
            admin.execute("CREATE DATABASE smart360")
        source_url, target_url = with_database(server_url, "abc_utility"), with_database(server_url, "smart360")
        log.info("generating %d ABC Utility consumers", rows)
        create_demo_source(source_url, rows)
        job = demo_job(source_url, target_url, report_dir, _source_as(kind, source_url, report_dir))
        with psycopg.connect(target_url) as conn:
            migrate(conn, job.target)
            load_tariff_plans(conn, job.target, TARIFF_PLANS)
        result = run(job, on_progress=on_progress)
        if interval_days is not None:
            from .intervals import run_interval_demo

            report = run_interval_demo(job, interval_days, report_dir)
            if intervals_out is not None:
                intervals_out.append(report)
        return result


def _source_as(kind: str, source_url: str, folder: Path) -> dict | None:
    """The generated source as `kind`: None keeps it in PostgreSQL; files go beside the reports."""
    if kind == "postgres":
        return None
    with psycopg.connect(source_url) as conn:
        cursor = conn.execute("SELECT * FROM consumer_data")
        frame = pl.DataFrame(cursor.fetchall(), schema=[c.name for c in cursor.description or []], orient="row")
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        frame.write_csv(folder / "abc_utility.csv")
        return {"csv": str(folder / "abc_utility.csv")}
    if kind == "parquet":
        frame.write_parquet(folder / "abc_utility.parquet")
        return {"file": str(folder / "abc_utility.parquet")}
    if kind == "xlsx":
        from ..review.workbook import table_writer

        with table_writer(folder / "abc_utility.xlsx", frame.columns, sheet="consumers") as write:
            for row in frame.iter_rows():
                write(row)
        return {"file": str(folder / "abc_utility.xlsx")}
    table = "consumer_data"
    url = _sqlite_copy(frame, folder) if kind == "sqlite" else _mysql_copy(frame)
    return {"url": url, "table": table}


def _sqlite_copy(frame: pl.DataFrame, folder: Path) -> str:
    import sqlite3

    path = folder / "abc_utility.db"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE consumer_data ({', '.join(f'{c} TEXT' for c in frame.columns)})")
        conn.executemany(f"INSERT INTO consumer_data VALUES ({', '.join('?' * frame.width)})", frame.iter_rows())
    return f"sqlite:///{path}"


def _mysql_copy(frame: pl.DataFrame) -> str:
    """Into database abc_utility_demo of the MySQL / MariaDB server (dropped and made again)."""
    import os

    import sqlalchemy

    server = os.environ.get("SMART360_DEMO_MYSQL_URL", MYSQL_SERVER).rstrip("/")
    engine = sqlalchemy.create_engine(server.replace("mysql://", "mysql+pymysql://", 1), isolation_level="AUTOCOMMIT")
    columns = ", ".join(f"{c} {'BIGINT' if c == 'consumer_id' else 'TEXT'}" for c in frame.columns)
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS abc_utility_demo")
        conn.exec_driver_sql("CREATE DATABASE abc_utility_demo CHARACTER SET utf8mb4")
        conn.exec_driver_sql(f"CREATE TABLE abc_utility_demo.consumer_data ({columns})")
        insert = f"INSERT INTO abc_utility_demo.consumer_data VALUES ({', '.join(['%s'] * frame.width)})"
        rows = frame.rows()
        for start in range(0, len(rows), 5_000):
            conn.exec_driver_sql(insert, rows[start:start + 5_000])
    return f"{server}/abc_utility_demo"

"""`smart360-etl demo`: an embedded PostgreSQL, a messy ABC Utility source, a SMART360 target, one full run."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from psycopg import sql

from .config import JobConfig, SourceConfig, TargetConfig
from .demo_data import generate
from .embedded import embedded_postgres, with_database
from .load.copying import copy_frames
from .load.schema import migrate
from .pipeline import OnProgress, RunResult, run

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


def demo_job(source_url: str, target_url: str, report_dir: Path) -> JobConfig:
    return JobConfig(
        name="abc-utility-demo",
        source=SourceConfig(url=source_url, table="consumer_data"),
        target=TargetConfig(url=target_url),
        region="US",
        report_dir=report_dir,
    )


def run_demo(rows: int, report_dir: Path, on_progress: OnProgress | None = None) -> RunResult:
    with embedded_postgres() as server_url:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE abc_utility")
            admin.execute("CREATE DATABASE smart360")
        source_url, target_url = with_database(server_url, "abc_utility"), with_database(server_url, "smart360")
        log.info("generating %d ABC Utility consumers", rows)
        create_demo_source(source_url, rows)
        job = demo_job(source_url, target_url, report_dir)
        with psycopg.connect(target_url) as conn:
            migrate(conn, job.target)
        return run(job, on_progress=on_progress)

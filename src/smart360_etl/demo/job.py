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


def demo_job(source_url: str, target_url: str, report_dir: Path) -> JobConfig:
    return parse_job(
        {
            "name": "abc-utility-demo",
            "source": {"url": source_url, "table": "consumer_data"},
            "target": {"url": target_url},
            "region": "US",
            "report_dir": str(report_dir),
            "accounts": ACCOUNTS,
            "crosswalks": CROSSWALKS,
        },
        "demo job",
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
            load_tariff_plans(conn, job.target, TARIFF_PLANS)
        return run(job, on_progress=on_progress)

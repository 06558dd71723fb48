"""Helpers the interval tests share: a migrated target with meters, generated reads, a job."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg

from smart360_etl.config import JobConfig, parse_job
from smart360_etl.demo.intervals import generate_reads, write_csv_files
from smart360_etl.load.schema import migrate

METERS = [f"MTR-{i:05d}" for i in range(60)]


def interval_job(target_url: str, folder: Path, source: dict | None = None, **intervals) -> JobConfig:
    section = {
        "source": source or {"csv": str(folder / "reads" / "*.csv")},
        "columns": {"meter": "meter_number", "start": "read_start", "value": "kwh"},
        "timezone": "America/Chicago",
        "stage_dir": str(folder / "stage"),
        "partitions": {"meter_buckets": 4},
        **intervals,
    }
    return parse_job({"source": {"csv": "unused.csv"}, "target": {"url": target_url},
                      "report_dir": str(folder / "reports"), "intervals": section}, "test job")


def prepare_target(job: JobConfig, meters: list[str] = METERS, service: str = "ELECTRICITY") -> None:
    with psycopg.connect(job.target.url) as conn:
        migrate(conn, job.target)
        conn.execute("INSERT INTO smart360.meter (meter_number, service, unit) SELECT m, %s, 'kWh' "
                     "FROM unnest(%s::text[]) m ON CONFLICT DO NOTHING", [service, meters])


def write_reads(folder: Path, meters: list[str] = METERS, start: date = date(2026, 3, 6), days: int = 4,
                **kwargs) -> int:
    reads = generate_reads(meters, start, days, **kwargs)
    write_csv_files(reads, folder / "reads", files=3)
    return reads.height


def target_totals(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), coalesce(sum(value), 0) FROM smart360.interval_reading").fetchone()
    assert row is not None
    return row[0], str(row[1])

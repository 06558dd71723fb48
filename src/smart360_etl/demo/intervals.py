"""Generated 15-minute reads for the demo's meters, with the faults VEE exists for, placed by meter
number so that a test knows where each is: a gap, exact copies, a conflicting copy, a spike, a zero run,
a negative read (and, when the days span one, a daylight-saving change)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig
from ..config.intervals import IntervalsConfig

FAULTS = {1: "gap", 2: "copies", 3: "conflict", 4: "spike", 5: "zero_run", 6: "negative"}
CYCLE = 50  # meter i has fault FAULTS[i % CYCLE]


def generate_reads(meters: list[str], start: date, days: int, zone: str = "America/Chicago", seconds: int = 900,
                   seed: int = 360, faults: bool = True) -> pl.DataFrame:
    """meter_number, read_start (local ISO 8601 with its offset), kwh (3 decimals)."""
    tz = ZoneInfo(zone)
    first = datetime(start.year, start.month, start.day, tzinfo=tz)
    last = datetime.fromordinal(start.toordinal() + days).replace(tzinfo=tz)
    count = int(last.timestamp() - first.timestamp()) // seconds
    first_us = int(first.timestamp() * 1_000_000)
    steps = np.arange(count, dtype=np.int64)
    rng = np.random.default_rng(seed)
    hours = (steps * seconds / 3600.0) % 24
    base = 0.25 + 0.2 * np.sin((hours - 7) / 24 * 2 * np.pi) ** 2
    values = np.round(base[None, :] * rng.uniform(0.6, 1.4, (len(meters), count)), 3)
    frame = pl.DataFrame({
        "meter_number": np.repeat(np.array(meters, dtype=object), count),
        "start_us": np.tile(first_us + steps * seconds * 1_000_000, len(meters)),
        "kwh": values.reshape(-1),
        "meter_index": np.repeat(np.arange(len(meters)), count),
        "step": np.tile(steps, len(meters)),
    })
    if faults:
        frame = _with_faults(frame, count)
    start_text = pl.from_epoch("start_us", time_unit="us").dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    return frame.select("meter_number", start_text.dt.strftime("%Y-%m-%dT%H:%M:%S%z").alias("read_start"),
                        pl.col("kwh").round(3))


def _with_faults(frame: pl.DataFrame, count: int) -> pl.DataFrame:
    fault = pl.col("meter_index") % CYCLE
    day = 96 * min(3, max(count // 96 - 1, 0))
    frame = frame.filter(~((fault == 1) & pl.col("step").is_between(day + 40, day + 47)))  # 8 missing
    frame = frame.with_columns(
        kwh=pl.when((fault == 4) & (pl.col("step") == day + 50)).then(pl.col("kwh") * 40 + 5)
        .when((fault == 5) & pl.col("step").is_between(day + 10, day + 29)).then(0.0)
        .when((fault == 6) & (pl.col("step") == day + 60)).then(-0.5)
        .otherwise("kwh")
    )
    copies = frame.filter((fault == 2) & pl.col("step").is_between(day, day + 2))
    conflict = frame.filter((fault == 3) & (pl.col("step") == day + 5)).with_columns(kwh=pl.col("kwh") + 1)
    return pl.concat([frame, copies, conflict]).sort(["meter_index", "step"], maintain_order=True)


def write_csv_files(reads: pl.DataFrame, folder: Path, files: int = 4) -> list[Path]:
    """The reads split by meter into `files` CSV files, as a meter data system exports them."""
    folder.mkdir(parents=True, exist_ok=True)
    meters = reads["meter_number"].unique(maintain_order=True).to_list()
    paths = []
    for number in range(files):
        chosen = meters[number::files]
        path = folder / f"reads-{number + 1:02d}.csv"
        reads.filter(pl.col("meter_number").is_in(chosen)).write_csv(path)
        paths.append(path)
    return paths


DEMO_START = date(2026, 3, 1)  # the days after it span the spring-forward change in America/Chicago (8 March)


def run_interval_demo(job: JobConfig, days: int, folder: Path) -> dict:
    """Reads for every meter the consumer run migrated (one meter more that SMART360 does not know), then
    the intervals job on them with the local pool; returns its report."""
    from ..intervals.runner import run_intervals

    with psycopg.connect(job.target.url) as conn:
        meters = [row[0] for row in conn.execute(
            sql.SQL("SELECT meter_number FROM {} ORDER BY meter_number").format(job.target.table("meter")))]
    reads = generate_reads([*meters, "NOT-MIGRATED-1"], DEMO_START, days)
    write_csv_files(reads, folder / "interval-reads")
    section = {
        "source": {"csv": str(folder / "interval-reads" / "*.csv")},
        "columns": {"meter": "meter_number", "start": "read_start", "value": "kwh"},
        "timezone": "America/Chicago",
        "stage_dir": str(folder / "interval-stage"),
        "partitions": {"meter_buckets": 4},
    }
    with_intervals = job.model_copy(update={"intervals": IntervalsConfig.model_validate(section)})
    return run_intervals(with_intervals)

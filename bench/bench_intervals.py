"""Benchmark: a full `smart360-etl intervals` run against a raw COPY of the same reads, on one PostgreSQL.

    python bench/bench_intervals.py [--meters 2000] [--days 90] [--workers 2]

Generates N meters x D days of 15-minute reads as CSV files (default 17.3M rows), times a COPY of those
files into an unpartitioned table, then the whole intervals job (every VEE rule on) with `--workers`
processes, and again with 1 worker into a second target: both must hold the same rows and the same sum.
Uses the server in SMART360_BENCH_DATABASE_URL when set, otherwise an embedded one. The last lines read
    workers: rows_1=<n> sum_1=<s> rows_<W>=<n> sum_<W>=<s> same=<yes|no>
    intervals: rows=<N> copy_s=<a> run_s=<b> ratio=<b/a> peak_rss_mb=<largest process's peak RSS>
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import psutil
import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import server  # noqa: E402

from smart360_etl.demo.embedded import with_database  # noqa: E402
from smart360_etl.demo.intervals import generate_reads  # noqa: E402

START = date(2026, 1, 1)
METERS_PER_FILE = 125


def write_reads(folder: Path, meters: int, days: int) -> int:
    """CSV files of METERS_PER_FILE meters each (generated a file at a time); returns the rows."""
    folder.mkdir(parents=True)
    rows = 0
    for number, first in enumerate(range(0, meters, METERS_PER_FILE)):
        names = [f"MTR-{i:07d}" for i in range(first, min(first + METERS_PER_FILE, meters))]
        reads = generate_reads(names, START, days, seed=first, faults=True)
        reads.write_csv(folder / f"reads-{number:04d}.csv")
        rows += reads.height
    return rows


def raw_copy(url: str, folder: Path) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE raw_reads (meter_number text, read_start timestamptz, kwh numeric)")
        conn.commit()
        started = time.perf_counter()
        for path in sorted(folder.glob("*.csv")):
            with conn.cursor().copy("COPY raw_reads FROM STDIN (FORMAT csv, HEADER true)") as copy:
                with path.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def job_file(folder: Path, target_url: str, workers: int) -> Path:
    job = {
        "name": "bench-intervals",
        "source": {"csv": "unused.csv"},
        "target": {"url": target_url},
        "report_dir": str(folder / "reports"),
        "intervals": {
            "source": {"csv": str(folder.parent / "reads" / "*.csv")},
            "columns": {"meter": "meter_number", "start": "read_start", "value": "kwh"},
            "timezone": "America/Chicago",
            "stage_dir": str(folder / "stage"),
            "executor": {"kind": "local", "workers": workers},
        },
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def prepare_target(url: str, job_path: Path, meters: int) -> None:
    subprocess.run([sys.executable, "-m", "smart360_etl.cli", "init", "-c", str(job_path)], check=True,
                   capture_output=True)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO smart360.meter (meter_number, service, unit) SELECT 'MTR-' || "
                     "lpad(i::text, 7, '0'), 'ELECTRICITY', 'kWh' FROM generate_series(0, %s) i", [meters - 1])


def timed_run(job_path: Path) -> tuple[float, float]:
    """Wall time and the largest peak RSS (MB) of any one process of the run (sampled every 0.1 s)."""
    started = time.perf_counter()
    process = psutil.Popen([sys.executable, "-m", "smart360_etl.cli", "-q", "intervals", "-c", str(job_path)],
                           stdout=subprocess.DEVNULL)
    peak, peak_process = [0.0], ["main"]

    def sample() -> None:
        while process.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                for member in tree:
                    rss = member.memory_info().rss / 2**20
                    if rss > peak[0]:
                        peak[0], peak_process[0] = rss, "main" if member is process else "worker"
            except psutil.Error:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    code = process.wait()
    watcher.join()
    if code != 0:
        raise SystemExit(f"smart360-etl intervals failed with exit code {code}")
    print(f"peak RSS {peak[0]:.0f} MB in the {peak_process[0]} process", file=sys.stderr)
    return time.perf_counter() - started, peak[0]


def totals(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), sum(value) FROM smart360.interval_reading").fetchone()
    assert row is not None
    return row[0], str(row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with server() as base, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = write_reads(folder / "reads", args.meters, args.days)
        databases = {}
        with psycopg.connect(base, autocommit=True) as admin:
            for role in ("raw", "one", "many"):
                name = f"bench_{role}_{uuid.uuid4().hex[:8]}"
                admin.execute(f'CREATE DATABASE "{name}"')
                databases[role] = with_database(base, name)
        try:
            copy_s = raw_copy(databases["raw"], folder / "reads")
            results = {}
            for role, workers in (("many", args.workers), ("one", 1)):
                (folder / role).mkdir()
                job_path = job_file(folder / role, databases[role], workers)
                prepare_target(databases[role], job_path, args.meters)
                results[role] = (*timed_run(job_path), *totals(databases[role]))
        finally:
            with psycopg.connect(base, autocommit=True) as admin:
                for url in databases.values():
                    admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[-1]}" WITH (FORCE)')
    run_s, peak_mb, many_rows, many_sum = results["many"]
    _, _, one_rows, one_sum = results["one"]
    same = "yes" if (one_rows, one_sum) == (many_rows, many_sum) else "no"
    print(f"workers: rows_1={one_rows} sum_1={one_sum} rows_{args.workers}={many_rows} sum_{args.workers}={many_sum} "
          f"same={same}")
    print(f"intervals: rows={rows} copy_s={copy_s:.2f} run_s={run_s:.2f} ratio={run_s / copy_s:.2f} "
          f"peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()

"""Benchmark and check: a workbook of N generated records (default 100,000) against the same records as
CSV, each loaded into an empty target by `smart360-etl run`, on one PostgreSQL (embedded, or
SMART360_BENCH_DATABASE_URL). The last line reads
    excel: rows=<N> same_counts=<bool> same_fields=<bool> csv_s=<a> xlsx_s=<b> ratio=<b/a>
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import server  # noqa: E402

from smart360_etl.demo.data import generate  # noqa: E402
from smart360_etl.demo.embedded import with_database  # noqa: E402
from smart360_etl.review.workbook import table_writer  # noqa: E402

FIELDS = "consumer_id, first_name, last_name, address_line_1, city, state, zip_code, phone_number, email_address"


def load(url: str, source: dict, work: Path, name: str) -> tuple[dict, list, float]:
    from smart360_etl.config import load_job
    from smart360_etl.db import target_connection
    from smart360_etl.load.schema import migrate
    from smart360_etl.run.pipeline import run

    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"source": source, "target": {"url": url}, "report_dir": str(work / name)}))
    job = load_job(path)
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    started = time.perf_counter()
    result = run(job)
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT {FIELDS} FROM smart360.consumer ORDER BY consumer_id").fetchall()
    return result.counts | {"rejects": result.rejects_by_reason}, rows, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    frame = generate(rows, seed=7).select("consumer_id", "name", "address", "contact_number", "email_address")
    with server() as url, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        frame.write_csv(work / "consumers.csv")
        with table_writer(work / "consumers.xlsx", frame.columns) as write:
            for row in frame.iter_rows():
                write(row)
        names = [f"bench_{uuid.uuid4().hex[:8]}_{kind}" for kind in ("csv", "xlsx")]
        with psycopg.connect(url, autocommit=True) as admin:
            for name in names:
                admin.execute(f'CREATE DATABASE "{name}"')
        try:
            csv_counts, csv_rows, csv_s = load(with_database(url, names[0]), {"csv": str(work / "consumers.csv")},
                                               work, "csv")
            xlsx_counts, xlsx_rows, xlsx_s = load(with_database(url, names[1]),
                                                  {"file": str(work / "consumers.xlsx")}, work, "xlsx")
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                for name in names:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"excel: rows={rows} same_counts={csv_counts == xlsx_counts} same_fields={csv_rows == xlsx_rows} "
          f"csv_s={csv_s:.2f} xlsx_s={xlsx_s:.2f} ratio={xlsx_s / csv_s:.2f}")


if __name__ == "__main__":
    main()

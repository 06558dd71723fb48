"""Benchmark: a full `smart360-etl run` against the raw COPY pipe of the same rows, on one PostgreSQL.

    python bench/bench_run.py [--rows 1000000]

Uses the server in SMART360_BENCH_DATABASE_URL when set, otherwise an embedded one. The last lines read
    validate: rows=<N> validate_s=<v> ratio=<v/a>
    bench: rows=<N> copy_s=<a> run_s=<b> ratio=<b/a> peak_rss_mb=<peak RSS of b>
With `--source mysql` the same rows are also loaded into MariaDB / MySQL (SMART360_BENCH_MYSQL_URL, default
mysql://root@127.0.0.1:3306) and run from there into an empty target of their own, ending with
    mysql: rows=<N> postgres_run_s=<b> mysql_run_s=<c> ratio=<c/b> peak_rss_mb=<peak RSS of c>
With `--incremental column|compare [--changed 0.01]` the run is an incremental job, run three times (into the
empty target, after a share of the rows changed, with nothing changed), ending with
    incremental: rows=<N> mode=<m> full_s=<a> changed_s=<b> ratio=<b/a> nochange_s=<c> nochange_ratio=<c/a>
                 peak_rss_mb=<largest peak of the three>
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import psycopg
import yaml
from psycopg import sql

from smart360_etl.demo.data import generate
from smart360_etl.demo.embedded import embedded_postgres, with_database
from smart360_etl.demo.job import ACCOUNTS, CROSSWALKS, SOURCE_DDL, TARIFF_PLANS
from smart360_etl.load.copying import copy_frames

CHUNK = 100_000
SOURCE_COLUMNS = ("consumer_id", "name", "address", "contact_number", "email_address", "account_number",
                  "meter_number", "tariff_plan", "consumption_history", "payment_status")


@contextmanager
def server():
    named = os.environ.get("SMART360_BENCH_DATABASE_URL")
    if named:
        yield named
    else:
        with embedded_postgres() as url:
            yield url


def create_source(url: str, rows: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(SOURCE_DDL)
        for start in range(0, rows, CHUNK):
            frame = generate(min(CHUNK, rows - start), seed=start)
            frame = frame.with_columns(
                (pl.col("consumer_id") + start).alias("consumer_id"),
                *(_renumbered(column, start) for column in ("account_number", "meter_number")),
            )
            copy_frames(conn, sql.Identifier("consumer_data"), [frame], frame.columns)
            print(f"  generated {min(start + CHUNK, rows)} rows", file=sys.stderr)
        conn.execute("ANALYZE consumer_data")


def _renumbered(column: str, offset: int) -> pl.Expr:
    """ "ACCT-0000001" of a later chunk becomes "ACCT-<1 + offset>": numbers stay unique across chunks."""
    prefix, digits = pl.col(column).str.extract(r"^(\D*)", 1), pl.col(column).str.extract(r"(\d+)$", 1)
    renumbered = pl.concat_str(prefix, (digits.cast(pl.Int64) + offset).cast(pl.String).str.zfill(7))
    return pl.when(digits.is_not_null()).then(renumbered).otherwise(pl.col(column)).alias(column)


def time_raw_copy(source_url: str, target_url: str) -> float:
    """The physical reference: COPY out of the source piped into COPY into a plain table."""
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as dst:
        dst.execute(SOURCE_DDL.replace("consumer_data", "copy_reference"))
        dst.commit()
        started = time.perf_counter()
        with (
            src.cursor().copy("COPY consumer_data TO STDOUT") as out,
            dst.cursor().copy("COPY copy_reference FROM STDIN") as into,
        ):
            for block in out:
                into.write(block)
        dst.commit()
        return time.perf_counter() - started


def time_validate(job_path: Path) -> float:
    """Wall time of `smart360-etl validate` on the loaded target (exit 0 or 2: both are verdicts)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "smart360_etl.cli", "validate", "-c", str(job_path)], stdout=subprocess.DEVNULL
    )
    if done.returncode not in (0, 2):
        raise SystemExit(f"smart360-etl validate failed with exit code {done.returncode}")
    return time.perf_counter() - started


def time_run(job_path: Path, first: bool = True) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one `smart360-etl run` process (the `first` after `init` and the
    tariff plans)."""
    cli = [sys.executable, "-m", "smart360_etl.cli"]
    if first:
        subprocess.run([*cli, "init", "-c", str(job_path)], check=True, capture_output=True)
        plans = job_path.with_name("tariff_plans.csv")
        TARIFF_PLANS.write_csv(plans)
        subprocess.run([*cli, "load-reference", "-c", str(job_path), str(plans)], check=True, capture_output=True)
    started = time.perf_counter()
    process = subprocess.Popen([*cli, "run", "-c", str(job_path)], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"smart360-etl run failed with exit code {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_maxrss / 1024


def time_incremental(job_path: Path, source_url: str, mode: str, changed: float) -> dict[str, float]:
    """Three runs of an incremental job: into the empty target, after `changed` of the source's rows were
    changed (a new e-mail address, and in column mode a new change stamp), and with nothing changed."""
    settings = yaml.safe_load(job_path.read_text())
    settings["source"]["incremental"] = {"mode": "column", "column": "changed_at"} if mode == "column" else {
        "mode": "compare"}
    job_path.write_text(yaml.safe_dump(settings))
    with psycopg.connect(source_url) as conn:
        if mode == "column":
            conn.execute("ALTER TABLE consumer_data ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now()")
    full_s, full_mb = time_run(job_path)
    with psycopg.connect(source_url) as conn:
        stamp = ", changed_at = clock_timestamp()" if mode == "column" else ""
        every = round(1 / changed)
        conn.execute(f"UPDATE consumer_data SET email_address = 'new.' || consumer_id || '@example.net'{stamp} "
                     f"WHERE consumer_id % {every} = 7")
    changed_s, changed_mb = time_run(job_path, first=False)
    nochange_s, nochange_mb = time_run(job_path, first=False)
    return {"full_s": full_s, "changed_s": changed_s, "nochange_s": nochange_s,
            "peak_rss_mb": max(full_mb, changed_mb, nochange_mb)}


def mysql_source(source_url: str, work: Path) -> str:
    """The PostgreSQL source's rows, as CSV, loaded into a new MySQL database (LOAD DATA LOCAL INFILE)."""
    import pymysql

    server = os.environ.get("SMART360_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306").rstrip("/")
    from smart360_etl.urls import parse_database_url

    parsed = parse_database_url(server + "/x", "SMART360_BENCH_MYSQL_URL", ("mysql",))
    dump = work / "source.csv"
    with psycopg.connect(source_url) as src, open(dump, "wb") as out:
        with src.cursor().copy("COPY consumer_data TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                out.write(block)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=parsed.host, port=parsed.port or 3306, user=parsed.user or "root",
                           password=parsed.password or "", local_infile=True, autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        columns = ", ".join(f"{c} {'BIGINT' if c == 'consumer_id' else 'TEXT'}" for c in SOURCE_COLUMNS)
        cursor.execute(f"CREATE TABLE {name}.consumer_data ({columns})")
        cursor.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {name}.consumer_data CHARACTER SET utf8mb4 "
                       "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\n'", [str(dump)])
    conn.close()
    return f"{server}/{name}"


def drop_mysql(url: str) -> None:
    import pymysql

    from smart360_etl.urls import parse_database_url

    parsed = parse_database_url(url, "SMART360_BENCH_MYSQL_URL", ("mysql",))
    conn = pymysql.connect(host=parsed.host, port=parsed.port or 3306, user=parsed.user or "root",
                           password=parsed.password or "", autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {parsed.database}")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--consumers-only", action="store_true", help="load the consumer table alone (no accounts, meters, readings)"
    )
    parser.add_argument("--source", choices=["postgres", "mysql"], default="postgres",
                        help="mysql: also run the same rows from MariaDB / MySQL, into a target of their own")
    parser.add_argument("--incremental", choices=["column", "compare"],
                        help="three runs of an incremental job (full, --changed rows changed, nothing changed)")
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed (with --incremental)")
    args = parser.parse_args()
    rows, consumers_only = args.rows, args.consumers_only
    with server() as url, tempfile.TemporaryDirectory() as work:
        names = [f"bench_{uuid.uuid4().hex[:8]}_{kind}" for kind in ("source", "target", "mysql_target")]
        with psycopg.connect(url, autocommit=True) as admin:
            for name in names:
                admin.execute(f'CREATE DATABASE "{name}"')
        try:
            source_url, target_url, mysql_target_url = (with_database(url, name) for name in names)
            create_source(source_url, rows)
            copy_s = time_raw_copy(source_url, target_url)
            job = Path(work) / "bench.yaml"
            job.write_text(
                yaml.safe_dump(
                    {
                        "source": {"url": source_url, "table": "consumer_data"},
                        "target": {"url": target_url},
                        "report_dir": str(Path(work) / "reports"),
                        **({} if consumers_only else {"accounts": ACCOUNTS, "crosswalks": CROSSWALKS}),
                    }
                )
            )
            if args.incremental:
                timed = time_incremental(job, source_url, args.incremental, args.changed)
                run_s, peak_mb = timed["full_s"], timed["peak_rss_mb"]
            else:
                run_s, peak_mb = time_run(job)
            validate_s = time_validate(job)
            if args.source == "mysql":
                mysql_url = mysql_source(source_url, Path(work))
                try:
                    other = Path(work) / "bench-mysql.yaml"
                    settings = yaml.safe_load(job.read_text())
                    settings["source"] = {"url": mysql_url, "table": "consumer_data"}
                    settings["target"] = {"url": mysql_target_url}
                    other.write_text(yaml.safe_dump(settings))
                    mysql_s, mysql_mb = time_run(other)
                finally:
                    drop_mysql(mysql_url)
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                for name in names:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"validate: rows={rows} validate_s={validate_s:.2f} ratio={validate_s / copy_s:.2f}")
    print(
        f"bench: rows={rows} copy_s={copy_s:.2f} run_s={run_s:.2f} ratio={run_s / copy_s:.2f} peak_rss_mb={peak_mb:.0f}"
    )
    if args.incremental:
        print(f"incremental: rows={rows} mode={args.incremental} full_s={timed['full_s']:.2f} "
              f"changed_s={timed['changed_s']:.2f} ratio={timed['changed_s'] / timed['full_s']:.3f} "
              f"nochange_s={timed['nochange_s']:.2f} nochange_ratio={timed['nochange_s'] / timed['full_s']:.3f} "
              f"peak_rss_mb={timed['peak_rss_mb']:.0f}")
    if args.source == "mysql":
        print(f"mysql: rows={rows} postgres_run_s={run_s:.2f} mysql_run_s={mysql_s:.2f} ratio={mysql_s / run_s:.2f} "
              f"peak_rss_mb={mysql_mb:.0f}")


if __name__ == "__main__":
    main()

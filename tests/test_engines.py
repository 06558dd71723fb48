"""Sources other than PostgreSQL and CSV, each against a real engine or file: MariaDB (the server on this
machine), SQLite, Excel workbooks and Parquet. Per kind: a full run, a re-run, incremental runs, drift,
and bad inputs that end in one line, exit 1, nothing written. SQL Server and Oracle: what can be tested
without a server (URLs, masking, type families)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import date, datetime
from pathlib import Path

import polars as pl
import psycopg
import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from smart360_etl.cli import main
from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.errors import ConfigError
from smart360_etl.load.schema import migrate
from smart360_etl.run.drift import SchemaDrift
from smart360_etl.run.pipeline import run

COLUMNS = ("consumer_id", "name", "address", "contact_number", "email_address", "updated_at")
ROWS = [
    ("C001", "Ann Lee", "12 Oak St, Austin, TX 78701", "512-555-0101", "ann@example.com", "2026-01-01 00:00:00"),
    ("C002", "Bob", "14 Oak St, Austin, TX 78701", "512-555-0102", "bob@example.com", "2026-01-02 00:00:00"),
    ("C003", "Cara Diaz", "16 Oak St, Dallas, TX 75201", "not a phone", "cara@example.com", "2026-01-03 00:00:00"),
    ("C004", "Dan Wu", "18 Elm St, Houston, TX 77002", "713-555-0104", "dan@example", "2026-01-04 00:00:00"),
    ("C005", "Eve Ray", "20 Elm St, Houston, TX 77002", "713-555-0105", "eve@example.com", "2026-01-05 00:00:00"),
]
MYSQL_SERVER = "mysql://root@127.0.0.1:3306"


def _mysql(database: str | None = None):
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database,
                           autocommit=True)


@pytest.fixture
def mysql_url():
    try:
        admin = _mysql()
    except Exception as exc:  # the CI machine runs MariaDB; say plainly when this one does not
        pytest.skip(f"no MariaDB on 127.0.0.1:3306 ({exc})")
    name = f"s360_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    with _mysql(name) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE customers (consumer_id VARCHAR(20), name VARCHAR(100), address VARCHAR(200), "
                       "contact_number VARCHAR(40), email_address VARCHAR(100), updated_at DATETIME)")
        cursor.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s)", ROWS)
    yield f"{MYSQL_SERVER}/{name}"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {name}")
    admin.close()


def _mysql_exec(url: str, statement: str) -> None:
    with _mysql(url.rsplit("/", 1)[1]) as conn, conn.cursor() as cursor:
        cursor.execute(statement)


@pytest.fixture
def sqlite_url(tmp_path):
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (consumer_id TEXT, name TEXT, address TEXT, contact_number TEXT, "
                     "email_address TEXT, updated_at TIMESTAMP)")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    return f"sqlite:///{path}"


def _sqlite_exec(url: str, statement: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute(statement)


ENGINES = {"mysql": ("mysql_url", _mysql_exec), "sqlite": ("sqlite_url", _sqlite_exec)}


def _job(write_job, target_url, source: dict, **sections):
    job = load_job(write_job(source=source, target={"url": target_url}, **sections))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    return job


def _consumers(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT consumer_id, first_name, last_name, phone_number, email_address "
                            "FROM smart360.consumer ORDER BY 1").fetchall()
    return {row[0]: row[1:] for row in rows}


EXPECTED = {
    "C001": ("Ann", "Lee", "+15125550101", "ann@example.com"),
    "C003": ("Cara", "Diaz", None, "cara@example.com"),
    "C004": ("Dan", "Wu", "+17135550104", None),
    "C005": ("Eve", "Ray", "+17135550105", "eve@example.com"),
}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_full_run_a_rerun_and_both_incremental_modes(engine, request, write_job, target_url):
    fixture, execute = ENGINES[engine]
    url = request.getfixturevalue(fixture)
    job = _job(write_job, target_url, {"url": url, "table": "customers"}, mapping={"consumer_id": "consumer_id"})
    first = run(job)
    assert first.counts == {"extracted": 5, "inserted": 4, "updated": 0, "unchanged": 0, "rejected": 1}
    assert first.rejects_by_reason == {"name_incomplete": 1} and _consumers(target_url) == EXPECTED
    assert run(job).counts["unchanged"] == 4  # a re-run changes nothing

    incremental = {"url": url, "table": "customers", "incremental": {"column": "updated_at"}}
    by_column = _job(write_job, target_url, incremental, mapping={"consumer_id": "consumer_id"})
    assert run(by_column).counts["extracted"] == 5  # the first incremental run reads everything
    execute(url, "UPDATE customers SET name = 'Ann Stone', updated_at = '2026-02-01 00:00:00' "
                 "WHERE consumer_id = 'C001'")
    moved = run(by_column)
    assert moved.counts == {"extracted": 1, "inserted": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    assert moved.incremental["watermark_saved"] and _consumers(target_url)["C001"][1] == "Stone"

    compare = {"url": url, "table": "customers", "incremental": {"mode": "compare"}}
    by_hash = _job(write_job, target_url, compare, mapping={"consumer_id": "consumer_id"})
    run(by_hash)
    execute(url, "UPDATE customers SET email_address = 'eve@new.example.com' WHERE consumer_id = 'C005'")
    changed = run(by_hash)
    assert changed.counts["updated"] == 1 and changed.counts["extracted"] == 5
    assert _consumers(target_url)["C005"][3] == "eve@new.example.com"


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_renamed_column_is_drift_before_anything_is_written(engine, request, write_job, target_url):
    fixture, execute = ENGINES[engine]
    url = request.getfixturevalue(fixture)
    job = _job(write_job, target_url, {"url": url, "table": "customers"}, mapping={"consumer_id": "consumer_id"})
    run(job)
    execute(url, "ALTER TABLE customers RENAME COLUMN contact_number TO phone")
    with pytest.raises(SchemaDrift, match="source column `contact_number` is gone; a column `phone` appeared"):
        run(job)


def test_mysql_types_fall_into_families_and_a_narrowing_retype_is_caught(mysql_url, write_job, target_url):
    from smart360_etl.sources.database import type_family

    assert [type_family(t) for t in ("VARCHAR(40)", "INTEGER", "BIGINT UNSIGNED", "DATETIME", "LONGTEXT", "BLOB",
                                     "NVARCHAR2(20)", "NUMBER(10,0)", "")] == [
        "text", "number", "number", "temporal", "text", "binary", "text", "number", "text"]
    job = _job(write_job, target_url, {"url": mysql_url, "table": "customers"}, mapping={"consumer_id": "consumer_id"})
    run(job)
    _mysql_exec(mysql_url, "ALTER TABLE customers MODIFY contact_number BLOB")
    with pytest.raises(SchemaDrift, match="changed type from VARCHAR"):
        run(job)


def _refused(path: Path, expected: str, target_url: str) -> None:
    result = CliRunner().invoke(main, ["run", "-c", str(path)])
    said = [line for line in result.output.splitlines() if " INFO " not in line and " WARNING " not in line]
    assert result.exit_code == 1 and len(said) == 1 and expected in said[0], result.output
    assert "Traceback" not in result.output and "secret99" not in result.output
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM smart360.consumer").fetchone()[0] == 0


@pytest.mark.parametrize(
    "source, expected",
    [
        ({"url": "mysql://root:secret99@127.0.0.1:9/legacy", "table": "customers", "connect_retries": 0},
         "cannot connect to the source mysql+pymysql://root:***@127.0.0.1:9/legacy"),
        ({"url": "mysql://nobody:secret99@127.0.0.1:3306/test", "table": "customers", "connect_retries": 0},
         "Access denied"),
        ({"url": "mysql://root@127.0.0.1:3306/test", "table": "no_such_table"}, "table no_such_table not found"),
        ({"url": "sqlite:///missing-dir/none.db", "table": "customers"}, "cannot connect to the source sqlite:///"),
    ],
)
def test_bad_database_sources_end_in_one_line(source, expected, write_job, target_url, mysql_url):
    path = write_job(source=source, target={"url": target_url})
    with target_connection(load_job(path).target) as conn:
        migrate(conn, load_job(path).target)
    _refused(path, expected, target_url)


def _workbook(path: Path, header: list[str | None], rows: list[list], formats: dict[int, str] | None = None) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Customers"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for column, number_format in (formats or {}).items():
        for cells in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cells[0].number_format = number_format
    book.save(path)
    return path


def test_a_workbook_loads_what_the_user_typed(write_job, target_url, tmp_path):
    """Ids with leading zeros kept by their number format, phone numbers stored as numbers, a date cell;
    named .csv, the file is still read as the workbook it is."""
    header = ["Consumer ID", "Name", "Address", "Contact Number", "Email Address", "Since"]
    rows = [[7, "Ann Lee", "12 Oak St, Austin, TX 78701", 5125550101, "ann@example.com", date(2024, 3, 1)],
            [42, "Bob Stone", "14 Oak St, Austin, TX 78701", "(512) 555-0102", "bob@example.com",
             datetime(2024, 3, 2, 0, 0)]]
    path = _workbook(tmp_path / "consumers.csv", header, rows, formats={1: "00000"})
    job = _job(write_job, target_url, {"file": str(path)})
    result = run(job)
    assert result.counts["inserted"] == 2 and result.source.startswith("Excel workbook")
    assert set(_consumers(target_url)) == {"00007", "00042"}
    assert _consumers(target_url)["00007"][2] == "+15125550101"


def test_a_workbook_and_the_same_rows_as_csv_load_the_same(write_job, target_url, tmp_path):
    header = ["Consumer ID", "Name", "Address", "Contact Number", "Email Address"]
    rows = [[f"C{i:04d}", name, f"{i} Oak St, Austin, TX 78701", f"512-555-{i:04d}", f"p{i}@example.com"]
            for i, name in enumerate(["Ann Lee", "Bob", "Cara Diaz", "Dan Wu", "Eve O'Neil"] * 40, start=1)]
    workbook = _workbook(tmp_path / "consumers.xlsx", header, rows)
    pl.DataFrame(rows, schema=header, orient="row").write_csv(tmp_path / "consumers.csv")
    from_book = run(_job(write_job, target_url, {"file": str(workbook)}))
    book_rows = _consumers(target_url)
    with psycopg.connect(target_url) as conn:
        conn.execute("TRUNCATE smart360.consumer CASCADE")
    from_csv = run(_job(write_job, target_url, {"csv": str(tmp_path / "consumers.csv")}))
    assert from_book.counts == from_csv.counts and from_book.rejects_by_reason == from_csv.rejects_by_reason
    assert book_rows == _consumers(target_url)


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda p: _workbook(p, [None, None], []), "is empty: its first row must name the columns"),
        (lambda p: _workbook(p, ["Consumer ID", None, "Address"], [["1", "Ann Lee", "1 Oak St"]]),
         "header cells [2] are empty (merged header cells?)"),
    ],
)
def test_bad_workbooks_end_in_one_line(build, expected, write_job, target_url, tmp_path):
    path = build(tmp_path / "consumers.xlsx")
    job_path = write_job(source={"file": str(path)}, target={"url": target_url})
    with target_connection(load_job(job_path).target) as conn:
        migrate(conn, load_job(job_path).target)
    _refused(job_path, expected, target_url)


def test_a_sheet_is_chosen_by_name_or_index_and_a_missing_one_is_named(write_job, target_url, tmp_path):
    path = _workbook(tmp_path / "c.xlsx", ["Consumer ID", "Name", "Address"], [["1", "Ann Lee", "1 Oak St"]])
    for sheet in ("Customers", 0):
        job = _job(write_job, target_url, {"file": str(path), "sheet": sheet},
                   mapping={"phone_number": None, "email_address": None})
        assert run(job).counts["extracted"] == 1
    job_path = write_job(source={"file": str(path), "sheet": "Accounts"}, target={"url": target_url})
    result = CliRunner().invoke(main, ["run", "-c", str(job_path)])
    assert result.exit_code == 1 and "has no sheet 'Accounts'; sheets are Customers" in result.output


def test_parquet_loads_row_group_by_row_group_as_the_csv_does(write_job, target_url, tmp_path):
    frame = pl.DataFrame([r[:5] for r in ROWS] * 1, schema=list(COLUMNS[:5]), orient="row")
    frame = frame.with_columns(pl.Series("balance", [1, 2, 3, 4, 5]))
    frame.write_parquet(tmp_path / "consumers.parquet", row_group_size=2)
    job = _job(write_job, target_url, {"file": str(tmp_path / "consumers.parquet"), "batch_size": 2},
               mapping={"consumer_id": "consumer_id"})
    result = run(job)
    assert result.counts["inserted"] == 4 and _consumers(target_url) == EXPECTED
    assert result.source.startswith("Parquet file") and result.unloaded_columns == ["balance"]


def test_urls_of_engines_without_a_server_here_are_checked_and_masked(write_job, tmp_path):
    from smart360_etl.urls import masked_url

    for url, shown in [("mssql://etl:Secret%40x@sql1:1433/legacy", "mssql+pyodbc://etl:***@sql1:1433/legacy"),
                       ("oracle://etl:pw1234@ora1:1521/ORCL", "oracle+oracledb://etl:***@ora1:1521/ORCL"),
                       ("mariadb://etl:pw1234@db1/legacy", "mysql+pymysql://etl:***@db1/legacy")]:
        job = load_job(write_job(source={"url": url, "table": "customers"}, target={"url": "postgresql://h/db"}))
        assert masked_url(job.source.url) == shown and "pw1234" not in json.dumps(shown)
    with pytest.raises(ConfigError, match="mysql:// .*read as a source only|is not supported for `target.url`"):
        load_job(write_job(source={"csv": "c.csv"}, target={"url": "mysql://root@h/db"}))
    with pytest.raises(ConfigError, match="sqlite:///path/to/file.db"):
        load_job(write_job(source={"url": "sqlite://", "table": "t"}, target={"url": "postgresql://h/db"}))


def _write_file(kind: str, path: Path, rows: list[tuple], header: list[str]) -> Path:
    if kind == "xlsx":
        return _workbook(path.with_suffix(".xlsx"), header, [list(r) for r in rows])
    frame = pl.DataFrame(rows, schema=header, orient="row")
    frame.write_parquet(path.with_suffix(".parquet"))
    return path.with_suffix(".parquet")


@pytest.mark.parametrize("kind", ["xlsx", "parquet"])
def test_a_file_reruns_unchanged_syncs_by_compare_and_drifts(kind, write_job, target_url, tmp_path):
    header = list(COLUMNS[:5])
    rows = [r[:5] for r in ROWS]
    path = _write_file(kind, tmp_path / "consumers", rows, header)
    job = _job(write_job, target_url, {"file": str(path), "incremental": {"mode": "compare"}},
               mapping={"consumer_id": "consumer_id"})
    assert run(job).counts["inserted"] == 4
    again = run(job)
    assert again.counts["unchanged"] == 4 and again.counts["updated"] == again.counts["inserted"] == 0
    rows[4] = (*rows[4][:4], "eve@new.example.com")
    _write_file(kind, tmp_path / "consumers", rows, header)
    changed = run(job)
    assert changed.counts["updated"] == 1 and _consumers(target_url)["C005"][3] == "eve@new.example.com"
    _write_file(kind, tmp_path / "consumers", rows, [*header[:3], "phone", header[4]])
    with pytest.raises(SchemaDrift, match="source column `contact_number` is gone; a column `phone` appeared"):
        run(job)

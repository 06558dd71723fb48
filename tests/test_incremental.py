"""Incremental sync on a real PostgreSQL: changed, new and deleted rows; a watermark that only moves with
the data; compare mode; and the window check that catches rows committed late with an old stamp."""

from __future__ import annotations

import psycopg
import pytest

from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.errors import StageFailed
from smart360_etl.load.schema import migrate
from smart360_etl.run.context import RunHooks
from smart360_etl.run.pipeline import run

SOURCE = """
CREATE TABLE customers (
    consumer_id text, name text, address text, contact_number text, email_address text,
    updated_at timestamptz
);
INSERT INTO customers
SELECT 'C' || lpad(i::text, 4, '0'), 'Person Number' || i, i || ' Oak Street, Springfield, IL 62704',
       '(212) 555-' || lpad(i::text, 4, '0'), 'p' || i || '@example.com',
       timestamptz '2026-01-01 00:00:00+00' + make_interval(mins => i)  -- the last one at 03:20
FROM generate_series(1, 200) AS i;
"""


def sql(url: str, statement: str, params=None) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(statement, params)


def target_rows(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT consumer_id, first_name, status FROM smart360.consumer").fetchall()
    return {row[0]: row[1:] for row in rows}


def watermark(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT value FROM smart360_etl.watermark").fetchone()
    return row and row[0]


@pytest.fixture
def incremental_job(source_url, target_url, write_job):
    sql(source_url, SOURCE)

    def make(**incremental):
        incremental.setdefault("column", "updated_at")
        job = load_job(
            write_job(
                source={"url": source_url, "table": "customers", "batch_size": 64, "incremental": incremental},
                target={"url": target_url},
            )
        )
        with target_connection(job.target) as conn:
            migrate(conn, job.target)
        return job

    return make


def check(result, name: str) -> dict:
    return next(c for c in result.checks if c["name"] == name)


def test_only_changed_and_new_rows_are_read_and_the_watermark_moves(incremental_job, source_url, target_url):
    job = incremental_job(overlap="10m")
    first = run(job)
    assert first.counts["extracted"] == 200 and first.counts["inserted"] == 200
    assert watermark(target_url) == "2026-01-01 03:20:00+00"
    sql(
        source_url,
        "UPDATE customers SET name = 'Changed Person', updated_at = '2026-02-01' WHERE consumer_id = 'C0007'",
    )
    sql(
        source_url,
        "INSERT INTO customers VALUES ('C9999', 'New Person', '9 Elm Street, Springfield, IL 62704', "
        "'(212) 555-9999', 'new@example.com', '2026-02-01 00:00:05+00')",
    )
    second = run(job)  # the two changes, and the ten rows stamped in the 10 minutes before the watermark
    assert second.counts == {"extracted": 12, "inserted": 1, "updated": 1, "unchanged": 10, "rejected": 0}
    assert target_rows(target_url)["C0007"][0] == "Changed" and "C9999" in target_rows(target_url)
    assert watermark(target_url) == "2026-02-01 00:00:05+00"
    assert check(second, "incremental_window_verified")["status"] == "pass"
    page = open(second.report_path.replace(".json", ".html"), encoding="utf-8").read()
    assert "watermark moved to 2026-02-01 00:00:05+00" in page and "0 of 12 rows differ" in page
    third = run(job)  # the overlap re-reads what was stamped within 10 minutes of the watermark: unchanged
    assert third.counts == {"extracted": 2, "inserted": 0, "updated": 0, "unchanged": 2, "rejected": 0}


def test_a_failed_run_does_not_move_the_watermark(incremental_job, source_url, target_url):
    job = incremental_job()
    run(job)
    sql(source_url, "UPDATE customers SET name = 'Later Person', updated_at = '2026-03-01' WHERE consumer_id = 'C0001'")

    def fail_reconciliation(event):
        if event == "reconcile":
            raise RuntimeError("disk full")

    with pytest.raises(StageFailed, match="disk full") as failure:
        run(job, hooks=RunHooks(at=fail_reconciliation))
    assert failure.value.stage == "reconcile" and watermark(target_url) == "2026-01-01 03:20:00+00"
    again = run(job)
    assert again.counts["updated"] == 1 and watermark(target_url) == "2026-03-01 00:00:00+00"


def test_full_refresh_reads_everything(incremental_job):
    job = incremental_job()
    run(job)
    refreshed = run(job, full_refresh=True)
    assert refreshed.counts["extracted"] == 200 and refreshed.counts["unchanged"] == 200


@pytest.mark.parametrize("deletes", ["report", "mark_inactive", "ignore"])
def test_deleted_source_rows(incremental_job, source_url, target_url, deletes):
    job = incremental_job(deletes=deletes)
    run(job)
    sql(source_url, "DELETE FROM customers WHERE consumer_id IN ('C0003', 'C0004')")
    result = run(job)
    rows = target_rows(target_url)
    assert set(rows) >= {"C0003", "C0004"}  # never deleted from SMART360
    names = [c["name"] for c in result.checks]
    if deletes == "report":
        reported = check(result, "source_rows_deleted")
        assert reported["status"] == "warn" and reported["sample"] == ["C0003", "C0004"]
        assert rows["C0003"][1] == "ACTIVE"
    elif deletes == "mark_inactive":
        assert rows["C0003"][1] == rows["C0004"][1] == "INACTIVE" and rows["C0005"][1] == "ACTIVE"
        assert result.incremental["deleted"]["count"] == 2 and "source_rows_deleted" not in names
        sql(
            source_url,
            "INSERT INTO customers VALUES ('C0003', 'Back Again', '3 Oak Street, Springfield, IL 62704', "
            "NULL, NULL, '2026-04-01')",
        )
        run(job)
        assert target_rows(target_url)["C0003"] == ("Back", "ACTIVE")
    else:
        assert result.incremental["deleted"]["count"] == 0 and "source_rows_deleted" not in names


def test_compare_mode_moves_only_the_differences(incremental_job, source_url, target_url):
    job = incremental_job(mode="compare", column=None)
    first = run(job)
    assert first.counts["inserted"] == 200
    sql(source_url, "UPDATE customers SET email_address = 'changed@example.com' WHERE consumer_id = 'C0010'")
    second = run(job)
    assert second.counts == {"extracted": 200, "inserted": 0, "updated": 1, "unchanged": 199, "rejected": 0}
    assert check(second, "incremental_window_verified")["status"] == "pass"
    # A consumer changed in the target behind the tool's back is caught by the verification.
    sql(target_url, "DELETE FROM smart360.consumer WHERE consumer_id = 'C0020'")
    third = run(job)
    verified = check(third, "incremental_window_verified")
    assert verified["status"] == "fail" and verified["sample"] == ["C0020"] and third.status == "checks_failed"


def mapped_rows(url: str, run_id: str) -> int:
    """Rows the run mapped: the clean ones it recorded for the run, and the rejected ones."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM smart360_etl.run_consumer WHERE run_id = %s) "
            "+ (SELECT count(*) FROM smart360_etl.reject WHERE run_id = %s)",
            [run_id, run_id],
        ).fetchone()[0]


def test_compare_mode_reads_once_and_maps_exactly_the_changed_rows(
    incremental_job, source_url, target_url, monkeypatch
):
    from smart360_etl.sources.postgres import PostgresSource

    reads = []
    real_batches = PostgresSource.batches

    def counted(self, *args, **kwargs):
        reads.append(args)
        return real_batches(self, *args, **kwargs)

    monkeypatch.setattr(PostgresSource, "batches", counted)
    job = incremental_job(mode="compare", column=None)
    first = run(job)
    assert first.counts["inserted"] == 200 and mapped_rows(target_url, first.run_id) == 200
    assert len(reads) == 1, "one read of the source, also on a first load"
    sql(source_url, "UPDATE customers SET email_address = 'new' || consumer_id || '@example.net' "
        "WHERE consumer_id IN ('C0003', 'C0050', 'C0051', 'C0120', 'C0150', 'C0199', 'C0200')")
    sql(source_url, "INSERT INTO customers SELECT 'N' || i, 'New Person', '1 Elm Street, Springfield, IL 62704', "
        "'(212) 555-0101', 'n' || i || '@example.com', NULL FROM generate_series(1, 3) AS i")
    reads.clear()
    second = run(job)
    assert second.counts == {"extracted": 203, "inserted": 3, "updated": 7, "unchanged": 193, "rejected": 0}
    assert mapped_rows(target_url, second.run_id) == 10 and len(reads) == 1
    assert check(second, "incremental_window_verified")["status"] == "pass"

    # An unchanged row whose id now occurs twice is rejected with its twin, as a full run would do: the
    # one case in which a few rows are read again.
    sql(source_url, "INSERT INTO customers SELECT consumer_id, 'Someone Else', address, contact_number, "
        "'else@example.com', updated_at FROM customers WHERE consumer_id = 'C0077'")
    reads.clear()
    third = run(job)
    assert third.counts == {"extracted": 204, "inserted": 0, "updated": 0, "unchanged": 202, "rejected": 2}
    assert mapped_rows(target_url, third.run_id) == 2 and len(reads) == 2
    with psycopg.connect(target_url) as conn:
        rejected = conn.execute("SELECT consumer_id, reasons FROM smart360_etl.reject WHERE run_id = %s",
                                [third.run_id]).fetchall()
    assert [r[0] for r in rejected] == ["C0077", "C0077"] and all("duplicate" in r[1][0] for r in rejected)

    refreshed = run(job, full_refresh=True)  # compare mode with --full-refresh maps every row
    assert mapped_rows(target_url, refreshed.run_id) == 204 and refreshed.counts["unchanged"] == 202


def test_a_row_committed_late_with_an_old_stamp_fails_the_window_check(
    incremental_job, source_url, target_url
):
    job = incremental_job()
    run(job)
    sql(source_url, "UPDATE customers SET name = 'Fresh Person', updated_at = '2026-05-01' WHERE consumer_id = 'C0001'")

    def late_commit(event):
        if event == "id_pass":  # the window is open: another session commits a change stamped inside it
            sql(
                source_url,
                "UPDATE customers SET name = 'Late Person', updated_at = '2026-04-30' WHERE consumer_id = 'C0002'",
            )

    result = run(job, hooks=RunHooks(at=late_commit))
    verified = check(result, "incremental_window_verified")
    assert verified["status"] == "fail" and verified["sample"] == ["C0002"]
    assert not result.incremental["watermark_saved"] and watermark(target_url) == "2026-01-01 03:20:00+00"
    healed = run(job)  # the kept watermark makes the next run read the late row
    assert check(healed, "incremental_window_verified")["status"] == "pass"
    assert target_rows(target_url)["C0002"][0] == "Late" and watermark(target_url) == "2026-05-01 00:00:00+00"


def test_csv_sources_need_compare_mode(write_job, tmp_path):
    from smart360_etl.errors import ConfigError

    (tmp_path / "c.csv").write_text("Consumer ID\n1\n")
    path = write_job(source={"csv": "c.csv", "incremental": {"column": "updated_at"}}, target={"url": "postgresql://h/db"})
    with pytest.raises(ConfigError, match="use `incremental: {mode: compare}`"):
        load_job(path)

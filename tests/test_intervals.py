"""The intervals job end to end on a real PostgreSQL: counts and sums reconcile, VEE flags land where the
generated faults are, re-runs and resumed runs leave the same rows, bad input is refused in one line."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import polars as pl
import psycopg
import pytest
from click.testing import CliRunner

from smart360_etl.cli import main
from smart360_etl.errors import SourceError
from smart360_etl.intervals import partitions
from smart360_etl.intervals.runner import plan_run, run_intervals

from .browser import render
from .intervals_support import METERS, interval_job, prepare_target, target_totals, write_reads


@pytest.fixture
def loaded(target_url, tmp_path):
    """A target with the meters (the last one unknown to SMART360), reads written, the job."""
    extracted = write_reads(tmp_path)
    job = interval_job(target_url, tmp_path)
    prepare_target(job, METERS[:-1])
    return job, extracted


def test_a_run_reconciles_and_flags_the_generated_faults(loaded):
    job, extracted = loaded
    report = run_intervals(job)
    counts = report["counts"]
    assert report["status"] == "succeeded"
    assert counts["extracted"] == extracted
    assert counts["inserted"] + counts["updated"] + counts["unchanged"] + counts["rejected"] == extracted
    assert report["reconciliation"]["sums_equal"]
    rows, total = target_totals(job.target.url)
    assert rows == counts["inserted"] and Decimal(total) == Decimal(report["reconciliation"]["target_sum"])
    # meters 1 and 51: 8 missing; 3 and 53: one interval with two values (both rejected, so missing too)
    assert report["flags_by_rule"]["interval_gap"] == 4
    assert report["rejects_by_reason"] == {"interval_duplicate_conflict": 4, "interval_duplicate_copy": 6,
                                           "interval_meter_unknown": 4 * 96 - 4}  # the spring-forward day: 92
    assert report["flags_by_rule"]["interval_duplicate"] == 6
    assert report["flags_by_rule"]["spike"] == 2
    assert report["flags_by_rule"]["zero_run"] == 40
    assert report["flags_by_rule"]["negative_value"] == 2
    assert "high_low" not in report["flags_by_rule"]
    with psycopg.connect(job.target.url) as conn:
        flagged = dict(conn.execute(
            "SELECT meter_number, count(*) FROM smart360.interval_reading WHERE 'spike' = ANY(vee_flags) GROUP BY 1"
        ).fetchall())
        reasons = conn.execute("SELECT DISTINCT reason FROM smart360_etl.interval_reject WHERE meter_number = %s",
                               [METERS[-1]]).fetchall()
    assert flagged == {"MTR-00004": 1, "MTR-00054": 1}
    assert reasons == [("interval_meter_unknown",)]
    with psycopg.connect(job.target.url) as conn:
        traced = conn.execute("SELECT source, line, meter_number, source_row->>'value' FROM "
                              "smart360_etl.interval_reject WHERE reason = 'interval_duplicate_conflict'").fetchall()
    for source, line, meter, value in traced:  # each reject leads back to its row in the source file
        row = pl.read_csv(job.intervals_section.stage_dir.parent / "reads" / source).row(line - 1, named=True)
        assert (row["meter_number"], Decimal(str(row["kwh"]))) == (meter, Decimal(value))


def test_running_again_leaves_the_same_rows_and_counts_them_unchanged(loaded):
    job, _ = loaded
    first = run_intervals(job)
    before = target_totals(job.target.url)
    second = run_intervals(job)
    assert target_totals(job.target.url) == before
    assert second["counts"]["inserted"] == 0 and second["counts"]["updated"] == 0
    assert second["counts"]["unchanged"] == first["counts"]["inserted"]


def test_a_unit_run_twice_leaves_the_same_rows(loaded):
    job, _ = loaded
    plan = plan_run(job)
    runner = CliRunner()
    job_file = job.intervals_section.stage_dir.parent / "job.yaml"
    job_file.write_text(json.dumps(json.loads(job.model_dump_json(by_alias=True, exclude_none=True))))
    key = plan["units"][0]["key"]
    for _ in range(2):
        result = runner.invoke(main, ["intervals", "unit", "-c", str(job_file), "--run", plan["run_id"], key])
        assert result.exit_code == 0, result.output
    with psycopg.connect(job.target.url) as conn:
        rows = conn.execute("SELECT count(*) FROM smart360.interval_reading").fetchone()[0]
        attempts = conn.execute("SELECT attempts, status FROM smart360_etl.interval_unit WHERE run_id = %s AND "
                                "unit_key = %s", [plan["run_id"], key]).fetchone()
    assert rows == json.loads(result.output)["rows"]
    assert attempts == (2, "done")


def _hold_leaf(url: str, job, key: str, release: threading.Event, held: threading.Event) -> None:
    """Lock one unit's partition (as a long report query would) until `release` is set."""
    from smart360_etl.intervals.unit import UnitKey

    unit = UnitKey.parse(key)
    with psycopg.connect(url) as conn:
        partitions.ensure_month(conn, job.target, unit.month, job.intervals_section.timezone, 4)
        with conn.transaction():
            leaf = partitions.leaf_name(unit.month, unit.bucket)
            conn.execute(f'LOCK TABLE smart360."{leaf}" IN ACCESS EXCLUSIVE MODE')
            held.set()
            release.wait(60)


def test_a_failed_unit_fails_the_run_and_resume_runs_only_it(loaded):
    job, extracted = loaded
    job = job.model_copy(update={"intervals": job.intervals_section.model_copy(update={
        "lock_timeout_s": 0.5, "executor": job.intervals_section.executor.model_copy(update={"retries": 0})})})
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_leaf, args=(job.target.url, job, "2026-03/b001", release, held))
    holder.start()
    held.wait(30)
    try:
        failed = run_intervals(job)
    finally:
        release.set()
        holder.join()
    assert failed["status"] == "failed"
    assert [u["key"] for u in failed["units"] if u["status"] != "done"] == ["2026-03/b001"]
    assert "--resume" in failed["error"] and "LockNotAvailable" in str(failed["units"])
    resumed = run_intervals(job, resume=failed["run_id"])
    assert resumed["status"] == "succeeded" and resumed["run_id"] == failed["run_id"]
    attempts = {u["key"]: u["attempts"] for u in resumed["units"]}
    assert attempts.pop("2026-03/b001") == 2 and set(attempts.values()) == {1}
    assert resumed["counts"]["extracted"] == extracted and resumed["reconciliation"]["sums_equal"]


def test_reads_rejected_while_reading_are_counted_by_reason_in_the_report(target_url, tmp_path):
    (tmp_path / "reads").mkdir()
    (tmp_path / "reads" / "a.csv").write_text(
        "meter_number,read_start,kwh\n"
        "MTR-00001,2026-05-01T00:00:00Z,1.5\n"
        "MTR-00001,yesterday,1.5\n"
        "MTR-00001,2026-03-08 02:30,1.5\n"  # skipped by spring-forward in Chicago
        ",2026-05-01T00:15:00Z,1\n"
        "MTR-00001,2026-05-01T00:30:00Z,lots\n")
    job = interval_job(target_url, tmp_path)
    prepare_target(job)
    report = run_intervals(job)
    assert report["status"] == "succeeded"
    assert report["counts"] == {"extracted": 5, "inserted": 1, "updated": 0, "unchanged": 0, "rejected": 4}
    assert report["rejects_by_reason"] == {"interval_meter_missing": 1, "interval_time_invalid": 1,
                                           "interval_time_nonexistent": 1, "interval_value_invalid": 1}
    with psycopg.connect(target_url) as conn:
        lines = conn.execute("SELECT line, reason FROM smart360_etl.interval_reject ORDER BY line").fetchall()
    assert [line for line, _ in lines] == [2, 3, 4, 5]


def test_a_csv_file_that_is_parquet_is_refused_in_one_line_and_nothing_is_written(target_url, tmp_path):
    (tmp_path / "reads").mkdir()
    pl.DataFrame({"meter_number": ["MTR-00001"], "read_start": ["2026-03-01T00:00:00Z"], "kwh": [1.0]}).write_parquet(
        tmp_path / "reads" / "march.csv")
    job = interval_job(target_url, tmp_path)
    prepare_target(job)
    refused = r"march.csv is a parquet file, not csv: list it under `intervals.source.parquet`"
    with pytest.raises(SourceError, match=refused):
        run_intervals(job)
    assert target_totals(target_url) == (0, "0")


def test_a_missing_column_names_the_key_and_the_columns_there(target_url, tmp_path):
    write_reads(tmp_path, METERS[:2], days=1)
    columns = {"meter": "meter_number", "start": "read_start", "value": "kWh_used"}
    job = interval_job(target_url, tmp_path, columns=columns)
    prepare_target(job)
    with pytest.raises(SourceError) as raised:
        run_intervals(job)
    message = str(raised.value)
    assert "\n" not in message and "`kWh_used` (`intervals.columns.value`)" in message and "read_start" in message
    assert target_totals(target_url) == (0, "0")
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT status FROM smart360_etl.run").fetchall() == [("failed",)]


def test_the_command_line_plans_runs_and_finishes_and_reports(loaded, tmp_path):
    job, _ = loaded
    job_file = tmp_path / "job.json"
    job_file.write_text(job.model_dump_json(by_alias=True, exclude_none=True))
    runner = CliRunner()
    planned = runner.invoke(main, ["intervals", "plan", "-c", str(job_file)])
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    early = runner.invoke(main, ["intervals", "finish", "-c", str(job_file), "--run", plan["run_id"]])
    assert early.exit_code == 1 and "did not finish" in early.output
    for unit in plan["units"]:
        assert runner.invoke(main, ["intervals", "unit", "-c", str(job_file), "--run", plan["run_id"],
                                    unit["key"]]).exit_code == 0
    done = runner.invoke(main, ["intervals", "finish", "-c", str(job_file), "--run", plan["run_id"], "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["status"] == "succeeded"
    page = (job.report_dir / "intervals" / f"{plan['run_id']}.html").read_text()
    assert "succeeded" in page and "MTR-00004" not in page and "MT*****04" in page
    wrong = runner.invoke(main, ["intervals", "unit", "-c", str(job_file), "--run", plan["run_id"], "March"])
    assert wrong.exit_code == 1 and "not a unit key" in wrong.output
    unknown = runner.invoke(main, ["intervals", "unit", "-c", str(job_file), "--run", "nope", "2026-03/b000"])
    assert unknown.exit_code == 1 and "no run nope on this target" in unknown.output
    gone = runner.invoke(main, ["intervals", "finish", "-c", str(job_file), "--run", "nope"])
    assert gone.exit_code == 1 and "has no plan" in gone.output


def test_the_run_waits_for_a_locked_partition_rather_than_fail_when_given_time(loaded):
    job, _ = loaded
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_leaf, args=(job.target.url, job, "2026-03/b002", release, held))
    holder.start()
    held.wait(30)
    threading.Timer(1.5, release.set).start()
    started = time.perf_counter()
    report = run_intervals(job)
    holder.join()
    assert report["status"] == "succeeded" and time.perf_counter() - started >= 1.5


def test_the_html_report_renders_in_chromium_and_keeps_hostile_meter_numbers_as_text(chromium, target_url,
                                                                                     tmp_path):
    hostile = '<img src=x onerror="document.title=1">'
    write_reads(tmp_path, [METERS[0], hostile], days=2)
    job = interval_job(target_url, tmp_path)
    job = job.model_copy(update={"report": job.report.model_copy(update={"mask_personal_data": False})})
    prepare_target(job, [METERS[0], hostile])  # the second meter has the generated gap: it is in the samples
    report = run_intervals(job)
    dom, errors = render(chromium, tmp_path, job.report_dir / "intervals" / f"{report['run_id']}.html")
    assert errors == []
    for name, value in report["counts"].items():
        assert f'id="count-{name}">{value}<' in dom, name
    for unit in report["units"]:
        assert f'data-unit="{unit["key"]}" data-status="done" data-attempts="1"' in dom
    assert "<img" not in dom and '&lt;img src=x onerror="document.title=1"&gt;' in dom
    assert report["flags_by_rule"]["interval_gap"] == 1

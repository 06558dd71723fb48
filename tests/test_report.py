"""Reports: JSON and HTML per run, the run index, masking; the HTML opened in a real headless Chromium."""

from __future__ import annotations

import json
import re

import pytest

from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.demo.job import create_demo_source
from smart360_etl.load.schema import migrate
from smart360_etl.report.masking import mask_email, mask_name, mask_phone, mask_warning
from smart360_etl.run.pipeline import run

from .browser import render


def test_masking():
    assert mask_email("john.doe@example.com") == "j***@example.com"
    assert mask_phone("+12125554567") == "+1******4567"
    assert mask_name("Mary Ann") == "M. A."


@pytest.fixture
def loaded(source_url, target_url, write_job, tmp_path):
    create_demo_source(source_url, 1500)

    def job_with(**extra):
        return load_job(
            write_job(source={"url": source_url, "table": "consumer_data"}, target={"url": target_url}, **extra)
        )

    job = job_with()
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    return job, job_with


def test_json_report_has_checks_profile_and_masked_people(loaded):
    job, _ = loaded
    result = run(job)
    report = json.loads(open(result.report_path).read())
    names = {c["name"] for c in report["checks"]}
    assert {
        "record_count_reconciles",
        "source_keys_reconcile",
        "consumer_id_unique",
        "likely_duplicate_consumers",
    } <= names
    assert all({"name", "severity", "status", "failing", "threshold", "sample"} <= set(c) for c in report["checks"])
    assert (
        report["profile"]["middle_name"]["missing"] > 0
        and report["profile"]["email_address"]["distinct_estimate"] > 1000
    )
    assert report["personal_data_masked"] and report["duplicates"]
    pair = report["duplicates"][0]
    assert "***@" in (pair["email_address"] or "***@") and re.fullmatch(r"(\w\. ?)+", pair["first_name"])
    page = open(result.report_path.replace(".json", ".html")).read()
    assert "@example.com" not in page.replace("***@example.com", "")


def test_the_report_shows_the_first_rows_of_every_reason_masked(loaded):
    job, _ = loaded
    result = run(job)
    report = json.loads(open(result.report_path).read())
    samples = report["reason_samples"]
    assert set(samples["rejects"]) == set(report["rejects_by_reason"]) != set()
    assert set(samples["warnings"]) == set(report["warnings_by_reason"]) != set()
    with target_connection(job.target) as conn:
        for reason, rows in samples["rejects"].items():
            assert 1 <= len(rows) <= min(5, report["rejects_by_reason"][reason])
            for row in rows:
                found = conn.execute(
                    "SELECT consumer_id FROM smart360_etl.reject WHERE run_id = %s AND source_row_number = %s"
                    " AND %s = ANY(reasons)", (result.run_id, row["source_row_number"], reason)).fetchone()
                assert found == (row["consumer_id"],)
        for reason, rows in samples["warnings"].items():
            for row in rows:
                field, value = conn.execute(
                    "SELECT field, source_value FROM smart360_etl.warning WHERE run_id = %s AND source_row_number"
                    " = %s AND reason = %s", (result.run_id, row["source_row_number"], reason)).fetchone()
                assert row["field"] == field
                assert row["source_value"] == mask_warning({"field": field, "source_value": value})["source_value"]
                if field != "address" or any(c.isdigit() for c in value):  # an address masks its numbers
                    assert row["source_value"] != value
    page = open(result.report_path.replace(".json", ".html")).read()
    for reason in (*samples["rejects"], *samples["warnings"]):
        assert f'data-reason="{reason}"' in page


def test_masking_can_be_switched_off(loaded):
    _, job_with = loaded
    result = run(job_with(report={"mask_personal_data": False}))
    report = json.loads(open(result.report_path).read())
    assert not report["personal_data_masked"] and "***" not in json.dumps(report["duplicates"])


def test_console_errors_are_detected(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>undefinedFunction()</script></body></html>")
    assert render(chromium, tmp_path, page)[1]


def test_html_report_renders_in_chromium_and_shows_the_numbers(chromium, loaded, tmp_path):
    job, _ = loaded
    first, second = run(job), run(job)
    report = json.loads(open(second.report_path).read())
    dom, errors = render(chromium, tmp_path, job.report_dir / f"{second.run_id}.html")
    assert errors == [] and 'data-ready="1"' in dom
    for name, value in report["counts"].items():
        assert re.search(rf'id="count-{name}">{value}<', dom), name
    for check in report["checks"]:
        row = re.search(rf'data-check="{check["name"]}">.*?badge (\w+)">', dom, re.S)
        assert row and row.group(1) == check["status"], check["name"]
    assert "<svg" in dom and 'id="reconciliation"' in dom
    for reason in report["reason_samples"]["warnings"]:
        assert re.search(rf'data-kind="warnings" data-reason="{reason}">.*?<tbody><tr><td>{reason}</td>', dom, re.S)
        command = rf'class="export-command" data-kind="warnings" data-reason="{reason}">[^<]*<code>smart360-etl rejects'
        assert re.search(rf'{command} -c &lt;job file&gt; --run {second.run_id} --reason {reason} --warnings', dom)
    index, errors = render(chromium, tmp_path, job.report_dir / "index.html")
    assert errors == [] and f'data-run="{first.run_id}"' in index and f'data-run="{second.run_id}"' in index
    assert 'class="trend"' in index


def test_a_report_that_cannot_be_written_leaves_the_committed_run_as_it_ended(loaded, tmp_path, caplog):
    _, job_with = loaded
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the report folder should be")
    result = run(job_with(report_dir=str(blocked)))
    assert result.status == "ok" and result.report_path is None and result.counts["inserted"] > 0
    assert "the run's report could not be written" in caplog.text and "status is ok" in caplog.text


def test_data_that_looks_like_markup_is_printed_as_it_is(loaded):
    """A consumer id `[/bold]` or a check sample with brackets must never be read as console markup."""
    from rich.console import Console

    from smart360_etl.report import print_checks

    console = Console(record=True, markup=False, width=200)
    print_checks([{"name": "x", "status": "warn", "failing": 1, "total": 2, "sample": ["[/bold]", "[red]x[/]"]}],
                 console)
    printed = console.export_text()
    assert "[/bold]" in printed and "[red]x[/]" in printed


def test_an_error_quoting_brackets_from_the_job_file_is_printed_not_parsed(write_job, tmp_path):
    from click.testing import CliRunner

    from smart360_etl.cli import main

    (tmp_path / "c.csv").write_text("Consumer ID,Name,Address,Contact Number,Email Address\n1,Ann Lee,1 Oak St,,\n")
    job = write_job(source={"csv": "c.csv"}, target={"url": "postgresql://nobody@127.0.0.1:9/none"},
                    mapping={"first_name": {"from": "[/bold]"}})
    result = CliRunner().invoke(main, ["preview", "-c", str(job)], catch_exceptions=False)
    assert result.exit_code == 1 and "column `[/bold]`" in result.output


def test_the_console_checks_table_keeps_its_counts_whole_on_80_columns():
    from rich.console import Console

    from smart360_etl.report import print_checks

    checks = [{"name": "meter_on_several_active_accounts", "status": "pass", "failing": 0, "total": 300000,
               "sample": []}, {"name": "likely_duplicate_consumers", "status": "warn", "failing": 24,
                              "total": 299867, "sample": ["100054~101495 (same_address)"]}]
    console = Console(record=True, markup=False, width=80)
    print_checks(checks, console)
    printed = console.export_text()
    assert "0 of 300000" in printed and "24 of 299867" in printed

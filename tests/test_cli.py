"""The command line: help everywhere, exit codes, and messages a user can act on."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from smart360_etl.cli import main
from smart360_etl.demo.embedded import with_database
from smart360_etl.demo.job import create_demo_source
from smart360_etl.load.schema import MIGRATIONS

from .conftest import SAMPLES


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help_with_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Example" in result.output and "smart360-etl " + command in result.output


def test_top_level_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0 and all(c in result.output for c in ("demo", "init", "run", "preview", "history"))


@pytest.fixture
def job_file(source_url, target_url, write_job):
    create_demo_source(source_url, 400)
    return write_job(source={"url": source_url, "table": "consumer_data"}, target={"url": target_url})


def test_run_logs_progress_per_batch_when_not_on_a_terminal(source_url, target_url, write_job):
    create_demo_source(source_url, 250)
    job = write_job(source={"url": source_url, "table": "consumer_data", "batch_size": 100}, target={"url": target_url})
    invoke("init", "-c", job)
    result = CliRunner().invoke(main, ["run", "-c", str(job)])
    assert result.exit_code == 0
    assert all(f"mapped {n} rows" in result.output for n in (100, 200, 250))


def test_init_run_history(job_file, target_url):
    first = invoke("init", "-c", job_file)
    assert first.exit_code == 0 and f"applied migrations {[v for v, _, _ in MIGRATIONS]}" in first.output
    again = invoke("init", "-c", job_file)
    assert again.exit_code == 0 and "already up to date" in again.output
    ran = invoke("run", "-c", job_file)
    assert ran.exit_code == 0 and "reconciled: extracted 400 = inserted" in ran.output and "report:" in ran.output
    listed = invoke("history", "-c", job_file)
    assert listed.exit_code == 0 and " ok " in listed.output and "400" in listed.output


def test_validate_exits_2_when_a_fail_check_fails(job_file, target_url):
    invoke("init", "-c", job_file)
    assert invoke("run", "-c", job_file).exit_code == 0
    clean = CliRunner().invoke(main, ["validate", "-c", str(job_file)])
    assert clean.exit_code == 0 and "no check with severity `fail` failed" in clean.output and "report:" in clean.output
    with psycopg.connect(target_url) as conn:
        conn.execute(
            "UPDATE smart360.consumer SET last_name = ' ' WHERE consumer_id = "
            "(SELECT min(consumer_id) FROM smart360.consumer)"
        )
    broken = CliRunner().invoke(main, ["validate", "-c", str(job_file)])
    assert broken.exit_code == 2 and "failed: last_name_present" in broken.output


def test_run_exits_2_when_a_fail_check_fails_and_keeps_the_data(source_url, target_url, write_job):
    create_demo_source(source_url, 400)
    job = write_job(
        source={"url": source_url, "table": "consumer_data"},
        target={"url": target_url},
        checks={"reject_rate": {"severity": "fail", "threshold": 0.001}},
    )
    invoke("init", "-c", job)
    result = CliRunner().invoke(main, ["run", "-c", str(job)])
    assert result.exit_code == 2 and "a check with severity `fail` failed" in result.output
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM smart360.consumer").fetchone()[0] > 350


def test_dry_run_says_so_and_writes_nothing(job_file, target_url):
    invoke("init", "-c", job_file)
    result = invoke("run", "-c", job_file, "--dry-run")
    assert result.exit_code == 0 and "rolled back" in result.output
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM smart360.consumer").fetchone()[0] == 0


def test_run_before_init_exits_1_and_says_what_to_do(job_file):
    result = CliRunner().invoke(main, ["run", "-c", str(job_file)])
    assert result.exit_code == 1 and f"smart360-etl init -c {job_file}" in result.output.replace("\n", "")


def test_preview_shows_mapped_rows_and_rejects_without_writing(write_job, tmp_path):
    csv_path = tmp_path / "c.csv"
    csv_path.write_text(SAMPLES.joinpath("case_study_sample.csv").read_text().rstrip("\n") + "\n14,Madonna,,,,,,,,\n")
    job = write_job(
        source={"csv": str(csv_path)}, target={"url": "postgresql://nobody@127.0.0.1:1/none", "connect_retries": 0}
    )
    result = CliRunner().invoke(main, ["preview", "-c", str(job), "--limit", "14"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "123 Main St" in result.output and "reject: name_incomplete,address_unparsed" in result.output
    assert "1 of 14 rows would be rejected; nothing was written" in result.output


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"source": {"csv": "missing.csv"}}, "CSV file"),
        ({"source": {"csv": "x.csv"}, "regoin": "US"}, "did you mean `region`?"),
    ],
)
def test_bad_input_exits_1_with_a_message(write_job, tmp_path, sections, message):
    sections.setdefault("target", {"url": "postgresql://nobody@127.0.0.1:1/none", "connect_retries": 0})
    result = CliRunner().invoke(main, ["run", "-c", str(write_job(**sections))])
    assert result.exit_code == 1 and "error:" in result.output and message in result.output


def test_unreachable_target_is_retried_then_exits_1_without_showing_the_password(write_job, tmp_path, monkeypatch):
    monkeypatch.setattr("smart360_etl.db.BACKOFF_S", 0.01)
    (tmp_path / "c.csv").write_text(SAMPLES.joinpath("case_study_sample.csv").read_text())
    target = {"url": "postgresql://etl:hunter2@127.0.0.1:1/smart360", "connect_retries": 2}
    result = CliRunner().invoke(main, ["run", "-c", str(write_job(source={"csv": "c.csv"}, target=target))])
    assert result.exit_code == 1 and "cannot connect to the SMART360 target" in result.output
    assert "(tried 3 times)" in result.output and "that the server runs" in result.output
    assert result.output.count("retrying") == 2
    assert "hunter2" not in result.output and "etl:***@" in result.output


def test_a_permanent_connection_failure_is_not_retried(write_job, tmp_path, server_url):
    (tmp_path / "c.csv").write_text(SAMPLES.joinpath("case_study_sample.csv").read_text())
    target = {"url": with_database(server_url, "no_such_database"), "connect_retries": 2}
    result = CliRunner().invoke(main, ["run", "-c", str(write_job(source={"csv": "c.csv"}, target=target))])
    assert result.exit_code == 1 and "(tried 1 time)" in result.output and "retrying" not in result.output


@pytest.mark.parametrize("flags", [["-v"], ["-vv"], ["--verbose"]])
def test_verbose_is_read_after_the_command_too(write_job, tmp_path, flags):
    (tmp_path / "c.csv").write_text("Consumer ID,Name\n1,Ann Lee\n")
    nowhere = {"url": "postgresql://nobody@127.0.0.1:9/none", "connect_retries": 0}
    job = write_job(source={"csv": "c.csv"}, target=nowhere)
    after = CliRunner().invoke(main, ["run", "-c", str(job), *flags])
    before = CliRunner().invoke(main, [*flags, "run", "-c", str(job)])
    assert after.exit_code == before.exit_code == 1 and "No such option" not in after.output


def test_quiet_keeps_only_warnings_and_errors_before_or_after_the_command(write_job, tmp_path):
    (tmp_path / "c.csv").write_text("Consumer ID,Name\n1,Ann Lee\n")
    nowhere = {"url": "postgresql://nobody@127.0.0.1:9/none", "connect_retries": 0}
    job = write_job(source={"csv": "c.csv"}, target=nowhere)
    for args in (["run", "-c", str(job), "-q"], ["--quiet", "run", "-c", str(job)]):
        quiet = CliRunner().invoke(main, args)
        assert quiet.exit_code == 1 and " INFO " not in quiet.output and "error:" in quiet.output
    loud = CliRunner().invoke(main, ["run", "-c", str(job)])
    assert " INFO " in loud.output  # not a terminal: INFO lines unless -q


@pytest.mark.parametrize(("file_mode", "files", "folders"), [(None, 0o600, 0o700), ("0640", 0o640, 0o750)])
def test_every_output_file_is_private_by_default(job_file, tmp_path, file_mode, files, folders):
    """Reports, the run index, the log file, the metrics file and exports hold personal data."""
    import os
    import stat

    import yaml

    job = yaml.safe_load(job_file.read_text())
    job |= {"logging": {"file": str(tmp_path / "logs" / "etl.jsonl")}, "metrics_file": str(tmp_path / "m" / "etl.prom")}
    if file_mode:
        job["file_mode"] = file_mode
    job_file.write_text(yaml.safe_dump(job))
    old = os.umask(0o022)
    try:
        assert invoke("init", "-c", job_file).exit_code == 0
        assert CliRunner().invoke(main, ["run", "-c", str(job_file)]).exit_code in (0, 2)
        assert invoke("export", "-c", job_file, "--out", tmp_path / "export").exit_code == 0
    finally:
        os.umask(old)
    made = [p for folder in ("reports", "logs", "m", "export") for p in (tmp_path / folder).rglob("*")]
    made += [tmp_path / folder for folder in ("reports", "logs", "m", "export")]
    assert {p.suffix for p in made} >= {".json", ".html", ".jsonl", ".prom", ".csv"}
    for path in made:
        expected = folders if path.is_dir() else files
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_a_variable_of_a_section_a_command_does_not_use_need_not_be_set(write_job, tmp_path, monkeypatch):
    """`alerts:` names ${HOOK_URL}: validate, preview and doctor do without it; run does not."""
    monkeypatch.delenv("HOOK_URL", raising=False)
    (tmp_path / "c.csv").write_text("Consumer ID,Name,Address,Contact Number,Email Address\n1,Ann Lee,1 Oak St,,\n")
    job = write_job(source={"csv": "c.csv"}, target={"url": "postgresql://nobody@127.0.0.1:9/none",
                    "connect_retries": 0}, alerts={"webhook": {"url": "${HOOK_URL}"}})
    preview = CliRunner().invoke(main, ["preview", "-c", str(job)])
    assert preview.exit_code == 0 and "rows would be rejected" in preview.output, preview.output
    ran = CliRunner().invoke(main, ["run", "-c", str(job)])
    assert ran.exit_code == 1 and "${HOOK_URL} (in `alerts.webhook.url`) is not set" in ran.output

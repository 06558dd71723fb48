"""`doctor`: each problem found on a real server, with its fix; nothing written."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import make_conninfo

from smart360_etl.cli import main
from smart360_etl.config import load_job
from smart360_etl.load.privileges import grant_statements
from smart360_etl.ops.doctor import diagnose
from smart360_etl.run.pipeline import run


def doctor(job_path):
    return CliRunner().invoke(main, ["doctor", "-c", str(job_path)], terminal_width=200)


def by_name(findings) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in findings:
        found.setdefault(finding.name, []).append(finding)
    return found


def test_a_healthy_job_is_ready_to_run(demo_job, tmp_path):
    run(demo_job)
    result = doctor(tmp_path / "job.yaml")
    assert result.exit_code == 0, result.output
    assert "ready to run" in result.output
    details = [finding.detail for finding in diagnose(demo_job)]
    assert "source and target match the last successful run" in details


def test_an_uninitialised_target_says_to_run_init(source_url, target_url, write_job):
    from smart360_etl.demo.job import create_demo_source

    create_demo_source(source_url, 10)
    path = write_job(source={"url": source_url, "table": "consumer_data"}, target={"url": target_url})
    result = doctor(path)
    assert result.exit_code == 1
    assert "pending target migrations" in result.output and "smart360-etl init" in result.output
    with psycopg.connect(target_url) as conn:  # doctor wrote nothing
        assert conn.execute("SELECT to_regnamespace('smart360') IS NULL").fetchone()[0]


def test_unreachable_databases_and_a_bad_mapping_are_each_reported(write_job, tmp_path):
    (tmp_path / "c.csv").write_text("Consumer ID,Name,Address,Email Address\n1,Ann Lee,1 Oak St,a@b.co\n")
    path = write_job(
        source={"csv": "c.csv"}, target={"url": "postgresql://etl:secret@127.0.0.1:1/nowhere", "connect_retries": 0}
    )
    findings = by_name(diagnose(load_job(path)))
    assert findings["source"][0].status == "ok"
    assert findings["mapping"][0].status == "fail" and "mapping: {phone_number: null}" in findings["mapping"][0].detail
    target = findings["target"][0]
    assert target.status == "fail" and "secret" not in target.detail and "target.url" in target.fix


def test_drift_shows_with_its_fix(demo_job, source_url, tmp_path):
    run(demo_job)
    with psycopg.connect(source_url) as conn:
        conn.execute("ALTER TABLE consumer_data RENAME COLUMN email_address TO notify_to")
    findings = by_name(diagnose(demo_job))
    drift = findings["drift (source)"][0]
    assert drift.status == "fail" and "`mapping.email_address.from: notify_to`" in drift.fix
    assert findings["mapping"][0].status == "fail"  # and the mapping itself no longer resolves


@pytest.fixture
def limited_user(server_url, target_url):
    role = f"etl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    yield role
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


def test_missing_privileges_are_named_with_the_grant(demo_job, target_url, limited_user):
    with psycopg.connect(target_url) as conn:
        conn.execute(f'GRANT USAGE ON SCHEMA smart360, smart360_etl TO "{limited_user}"')
        conn.execute(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA smart360_etl TO "{limited_user}"')
        conn.execute(f'GRANT SELECT, INSERT ON smart360.consumer TO "{limited_user}"')
    job = demo_job.model_copy(
        update={"target": demo_job.target.model_copy(update={"url": make_conninfo(target_url, user=limited_user)})}
    )
    problems = [(f.status, f.detail, f.fix) for f in diagnose(job) if f.name == "permissions"]
    assert ("fail", "missing smart360.consumer: UPDATE", "GRANT UPDATE ON smart360.consumer TO <role>") in problems
    assert ("fail", "missing smart360_etl.duplicate_candidate: DELETE",
            "GRANT DELETE ON smart360_etl.duplicate_candidate TO <role>") in problems


def _as(job, url: str, role: str):
    return job.model_copy(update={"target": job.target.model_copy(update={"url": make_conninfo(url, user=role)})})


def test_a_role_holding_exactly_what_doctor_lists_can_run_the_job(demo_job, target_url, limited_user):
    """doctor's privilege list is the run's: granted it and nothing else, the role runs the job (twice: the
    first run loads an empty table, the second merges), and doctor finds nothing missing."""
    job = _as(demo_job, target_url, limited_user)
    with psycopg.connect(target_url) as conn:
        before = [f for f in diagnose(job) if f.name == "permissions"]
        assert before and all(f.status == "fail" for f in before)
        for statement in grant_statements(demo_job, limited_user):
            conn.execute(statement)
    assert [f.status for f in diagnose(job) if f.name in ("permissions", "migrations")] == ["ok", "ok"]
    first, second = run(job), run(job)
    assert first.status == second.status == "ok" and second.counts["unchanged"] == first.counts["inserted"] > 0


def test_source_columns_no_field_reads_are_named_by_run_report_and_doctor(target_url, write_job, tmp_path):
    """The case study's account columns, in a job without `accounts:`: said everywhere, with how to load them."""
    from smart360_etl.db import target_connection
    from smart360_etl.load.schema import migrate

    from .conftest import SAMPLES

    (tmp_path / "c.csv").write_text(SAMPLES.joinpath("case_study_sample.csv").read_text())
    path = write_job(source={"csv": "c.csv"}, target={"url": target_url})
    job = load_job(path)
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    account_columns = ["Account Number", "Meter Number", "Tariff Plan", "Consumption History", "Payment Status"]
    result = run(job)
    assert result.unloaded_columns == account_columns
    report = open(result.report_path).read()
    assert all(column in report for column in account_columns)
    found = by_name(diagnose(job))["unloaded columns"][0]
    assert found.status == "warn" and found.detail.startswith("5 source columns not loaded: Account Number")
    assert "add `accounts:`" in found.detail
    with_accounts = load_job(write_job(source={"csv": "c.csv"}, target={"url": target_url}, accounts={}))
    assert "unloaded columns" not in by_name(diagnose(with_accounts))


def test_crosswalks_without_accounts_is_an_error(write_job, tmp_path):
    from smart360_etl.errors import ConfigError

    path = write_job(source={"csv": "c.csv"}, target={"url": "postgresql://h/db"},
                     crosswalks={"tariff_plan": {"Plan A": "RES-STD"}})
    with pytest.raises(ConfigError, match="add `accounts: {}`"):
        load_job(path)


def test_doctor_finds_what_stops_a_run_before_it_writes(demo_job, write_job, source_url, target_url):
    """An unknown check name and a crosswalk plan the target lacks: run stops on both at once, doctor names
    both (it said "ready to run" before)."""
    from smart360_etl.errors import RunBlocked

    job = load_job(write_job(
        source={"url": source_url, "table": "consumer_data"}, target={"url": target_url},
        checks={"phone_number_formt": {"severity": "fail"}}, accounts={},
        crosswalks={"tariff_plan": {"Plan A": "RES-NOPE"}},
    ))
    with pytest.raises(RunBlocked) as error:
        run(job)
    assert "phone_number_formt" in str(error.value) and "RES-NOPE" in str(error.value)
    found = by_name(diagnose(job))
    assert found["checks"][0].status == "fail" and "did you mean `phone_number_format`?" in found["checks"][0].detail
    assert found["tariff plans"][0].status == "fail" and "RES-NOPE" in found["tariff plans"][0].detail

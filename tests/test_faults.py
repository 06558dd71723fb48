"""Faults at each stage of a real run: kill -9 and SIGTERM, then a re-run that leaves the same target."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.demo.job import create_demo_source
from smart360_etl.load.schema import migrate
from smart360_etl.mapping.fields import CONSUMER_FIELDS
from smart360_etl.run.pipeline import run

CLI = [str(Path(sys.executable).with_name("smart360-etl"))]
ROWS = 20_000
# A line the run logs (not on a terminal) as it enters each stage.
STAGES = {
    "start": "run of job",
    "extract": "consumer ids",
    "load": "mapped ",
    "check": "check record_count_reconciles",
}


@pytest.fixture
def jobs(source_url, target_url, write_job, tmp_path):
    """The job under fire (schema smart360) and a reference job run once, cleanly (schema reference)."""
    create_demo_source(source_url, ROWS)
    source = {"url": source_url, "table": "consumer_data", "batch_size": 2_000}
    reference = load_job(write_job(name="reference", source=source, target={"url": target_url, "schema": "reference"}))
    path = write_job(source=source, target={"url": target_url})
    job = load_job(path)
    for each in (reference, job):
        with target_connection(each.target) as conn:
            migrate(conn, each.target)
    return path, job, reference


def _consumers(url: str, schema: str) -> tuple[int, str]:
    columns = ", ".join(CONSUMER_FIELDS)
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"SELECT count(*), md5(string_agg(concat_ws('|', {columns}), E'\\n' ORDER BY consumer_id)) "
            f"FROM {schema}.consumer"
        ).fetchone()


def _statuses(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM smart360_etl.run WHERE job = 'job' ORDER BY started_at")]


def _interrupt_at(path: Path, marker: str, sig: int) -> tuple[int, str]:
    """Start `run`, send `sig` once its log reaches `marker`; (exit code, what it printed)."""
    process = subprocess.Popen([*CLI, "run", "-c", str(path)], stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            process.send_signal(sig)
            break
    rest = process.communicate(timeout=120)[1]
    return process.returncode, "".join(seen) + rest


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_then_sigterm_at_a_stage_then_a_rerun_gives_the_reference_target(jobs, target_url, stage):
    path, job, reference = jobs
    run(reference)
    expected = _consumers(target_url, "reference")
    killed, output = _interrupt_at(path, STAGES[stage], signal.SIGKILL)
    assert killed == -signal.SIGKILL, output[-2000:]
    assert _consumers(target_url, "smart360")[0] == 0  # nothing of the killed run was committed
    terminated, output = _interrupt_at(path, STAGES[stage], signal.SIGTERM)
    assert terminated == 143 and "terminated (SIGTERM)" in output, output[-2000:]
    assert _consumers(target_url, "smart360")[0] == 0
    result = run(job, lock_wait_s=10)  # the killed session's lock goes within a second
    assert _consumers(target_url, "smart360") == expected
    assert result.counts["inserted"] == expected[0]
    statuses = _statuses(target_url)
    if stage == "start":  # killed before the run was on record
        assert statuses[-1] == "ok" and set(statuses[:-1]) <= {"abandoned", "failed"}
    else:
        assert statuses == ["abandoned", "failed", "ok"]

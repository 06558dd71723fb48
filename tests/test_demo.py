"""`smart360-etl demo` as a user runs it: a real process, an embedded server, and clean-up on every exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

CLI = [sys.executable, "-m", "smart360_etl.cli"]


def embedded_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("smart360-etl-pg-*"))


def test_demo_runs_the_whole_job(tmp_path):
    done = subprocess.run(
        [*CLI, "demo", "--rows", "2000", "--report-dir", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "reconciled: extracted 2000 = inserted" in done.stdout
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    counts = report["counts"]
    assert report["status"] == "ok" and counts["extracted"] == 2000
    assert counts["inserted"] + counts["rejected"] == 2000 and counts["rejected"] > 0
    assert {"name_incomplete", "address_unparsed", "consumer_id_duplicate"} <= set(report["rejects_by_reason"])
    assert {"tariff_unknown", "consumption_invalid"} <= set(report["rejects_by_reason"])  # the billing columns too
    assert 0.02 <= counts["rejected"] / 2000 <= 0.05
    assert report["entities"]["account"]["inserted"] == counts["inserted"]
    assert all(total["match"] for total in report["business_totals"]) and "accounts, meters, readings" in done.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_embedded_server_is_removed_when_interrupted(tmp_path, sig):
    before = embedded_dirs()
    process = subprocess.Popen(
        [*CLI, "demo", "--rows", "400000", "--report-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    postmaster = _wait_for_server(before, process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode in (130, 143, -sig), stderr[-2000:]
    assert embedded_dirs() - before == set(), stderr[-2000:]
    gone = not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
    assert gone, stderr[-2000:]


def _wait_for_server(before: set[Path], process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for new in embedded_dirs() - before:
            try:
                pid = int((new / "postmaster.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # not started yet
            time.sleep(1.0)  # let it get into the work
            return pid
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError("embedded server did not start within 60 s")


def test_a_kept_demo_is_a_database_to_explore_and_a_second_mock_load_to_compare(tmp_path):
    folder = tmp_path / "abc"
    try:
        first = subprocess.run([*CLI, "demo", "--rows", "1500", "--keep", str(folder)], capture_output=True,
                               text=True, timeout=300)
        assert first.returncode in (0, 2), first.stderr[-2000:]
        assert "mock load 1 kept in" in first.stdout and f"demo --stop {folder}" in first.stdout
        job = folder / "job.yaml"
        listed = subprocess.run([*CLI, "history", "-c", str(job), "--json"], capture_output=True, text=True)
        assert len(json.loads(listed.stdout)["runs"]) == 1
        second = subprocess.run([*CLI, "demo", "--keep", str(folder)], capture_output=True, text=True, timeout=300)
        assert second.returncode in (0, 2) and "mock load 2 kept in" in second.stdout, second.stderr[-2000:]
        compared = subprocess.run([*CLI, "compare", "-c", str(job), "--json"], capture_output=True, text=True)
        consumers = json.loads(compared.stdout)["consumers"]
        assert consumers["new"] > 0 and consumers["gone"] > 0 and consumers["changed"] > 0
        assert consumers["unchanged"] > 10 * consumers["changed"]
    finally:
        stopped = subprocess.run([*CLI, "demo", "--stop", str(folder)], capture_output=True, text=True)
    assert "stopped the demo's database" in stopped.stdout
    pid_file = folder / "pgdata" / "postmaster.pid"
    assert not pid_file.exists() or not psutil.pid_exists(int(pid_file.read_text().split()[0]))


def test_the_demo_gives_the_same_counts_from_every_kind_of_source(tmp_path):
    from smart360_etl.demo.job import run_demo

    results = {kind: run_demo(600, tmp_path / kind, kind=kind) for kind in ("postgres", "sqlite", "xlsx", "parquet")}
    counts = {kind: (r.counts, r.rejects_by_reason, r.warnings_by_reason) for kind, r in results.items()}
    assert all(value == counts["postgres"] for value in counts.values()), counts
    assert results["xlsx"].source.startswith("Excel workbook") and results["sqlite"].source.startswith("SQLite")


def test_the_demo_with_intervals_runs_both_jobs_on_the_migrated_meters(tmp_path):
    from smart360_etl.demo.job import run_demo

    interval_reports: list[dict] = []
    result = run_demo(300, tmp_path, interval_days=2, intervals_out=interval_reports)
    (report,) = interval_reports
    assert result.counts["inserted"] > 0 and report["status"] == "succeeded"
    assert report["rejects_by_reason"]["interval_meter_unknown"] == 2 * 96  # the meter SMART360 does not know
    for rule in ("interval_gap", "interval_duplicate", "spike", "zero_run", "negative_value"):
        assert report["flags_by_rule"][rule] > 0, rule
    assert (tmp_path / "intervals" / f"{report['run_id']}.html").is_file()

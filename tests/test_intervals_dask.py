"""The same units on a real Dask LocalCluster (2 worker processes): a unit that fails its first attempt
and a worker killed mid-unit; the run completes, the ledger shows the attempts, the sums are exact."""

from __future__ import annotations

import os
import signal
import threading
import time

import psycopg
import pytest

from smart360_etl.intervals.executors import execute
from smart360_etl.intervals.runner import finish, plan_run, run_intervals

from .intervals_support import METERS, interval_job, prepare_target, target_totals, write_reads
from .test_intervals import _hold_leaf

distributed = pytest.importorskip("distributed")


@pytest.fixture
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _job(target_url, tmp_path, **settings):
    write_reads(tmp_path)
    job = interval_job(target_url, tmp_path, executor={"kind": "dask", "workers": 2, "writers": 2, "retries": 2},
                       **settings)
    prepare_target(job, METERS)
    return job


def _attempts(url: str, run_id: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return {k: (s, a) for k, s, a in conn.execute(
            "SELECT unit_key, status, attempts FROM smart360_etl.interval_unit WHERE run_id = %s", [run_id])}


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _run_with_a_locked_unit(job, plan, key: str, cluster):
    """The plan's units started on the cluster (in a thread) while `key`'s partition is locked until the
    returned event is set; returns (release, the lock's thread, the run's thread, the outcome it fills)."""
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_leaf, args=(job.target.url, job, key, release, held))
    holder.start()
    held.wait(30)
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(
        execute(job, plan["run_id"], [u["key"] for u in plan["units"]], "dask", cluster.scheduler_address)))
    runner.start()
    return release, holder, runner, outcome


def test_a_unit_failing_its_first_attempt_is_retried_on_the_cluster(target_url, tmp_path, cluster):
    job = _job(target_url, tmp_path, lock_timeout_s=0.5)
    plan = plan_run(job)
    release, holder, worker, outcome = _run_with_a_locked_unit(job, plan, "2026-03/b003", cluster)
    with psycopg.connect(target_url) as conn:
        _wait_for(lambda: conn.execute("SELECT error IS NOT NULL OR attempts > 1 FROM smart360_etl.interval_unit "
                                       "WHERE run_id = %s AND unit_key = '2026-03/b003'",
                                       [plan["run_id"]]).fetchone()[0])
    release.set()
    holder.join()
    worker.join(120)
    assert set(outcome.values()) == {None}
    report = finish(job, plan["run_id"])
    assert report["status"] == "succeeded" and report["reconciliation"]["sums_equal"]
    assert _attempts(target_url, plan["run_id"])["2026-03/b003"][1] >= 2


def test_a_worker_killed_mid_unit_loses_only_that_attempt(target_url, tmp_path, cluster):
    job = _job(target_url, tmp_path)
    plan = plan_run(job)
    key = "2026-03/b000"
    release, holder, runner, outcome = _run_with_a_locked_unit(job, plan, key, cluster)
    with distributed.Client(cluster.scheduler_address) as client:
        task = f"smart360-unit-{plan['run_id']}-{key}"
        _wait_for(lambda: any(task in tasks for tasks in client.processing().values())
                  and _attempts(target_url, plan["run_id"]).get(key, ("", 0))[0] == "running")
        address = next(w for w, tasks in client.processing().items() if task in tasks)
        pid = client.run(os.getpid, workers=[address])[address]
        os.kill(pid, signal.SIGKILL)  # mid-unit: its COPY is done, it waits for the partition
    release.set()
    holder.join()
    runner.join(180)
    assert set(outcome.values()) == {None}
    report = finish(job, plan["run_id"])
    assert report["status"] == "succeeded" and report["reconciliation"]["sums_equal"]
    assert report["counts"]["inserted"] + report["counts"]["rejected"] == report["counts"]["extracted"]
    assert _attempts(target_url, plan["run_id"])[key] == ("done", 2)
    with psycopg.connect(target_url) as conn:
        leftovers = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%incoming'").fetchone()[0]
    assert leftovers == 0


def test_one_and_two_dask_workers_load_the_same_rows(target_url, new_database, tmp_path, cluster):
    job = _job(target_url, tmp_path)
    run_intervals(job, scheduler=cluster.scheduler_address)
    other_url = new_database()
    other = interval_job(other_url, tmp_path / "one", source=job.intervals_section.source.model_dump(
        exclude_none=True), executor={"kind": "local", "workers": 1})
    prepare_target(other, METERS)
    run_intervals(other)
    assert target_totals(target_url) == target_totals(other_url)

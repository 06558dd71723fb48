"""A run of the intervals job: plan (read, split, record the units), execute the units that are not done,
finish (sum the units, write the reports, mark the run). `--resume RUN_ID` skips the planning and runs
only what that run did not finish; the run is on the ledger (`run`, job `<name>:intervals`) from its
start, and each unit in `interval_unit` with its attempts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

from psycopg import sql

from ..config import JobConfig
from ..errors import EtlError
from ..load.schema import require_migrated
from ..run.context import new_run_id
from .executors import OnUnit, execute
from .partitions import existing_buckets
from .report import write_report
from .stage import read_plan, stage
from .unit import copy_rejects, one_line, target_conn

OUTCOMES = ("extracted", "inserted", "updated", "unchanged", "rejected")
PLAN_UNIT = "-"  # the ledger's name for reads rejected while planning (before they had a unit)


def ledger_job(job: JobConfig) -> str:
    return f"{job.name}:intervals"


def plan_run(job: JobConfig, on_progress: Callable[[int], None] | None = None) -> dict:
    """Read and split the source, record the run and its units; returns the plan (plan.json)."""
    intervals, target = job.intervals_section, job.target
    run_id = new_run_id()
    with target_conn(target, autocommit=True) as conn:
        require_migrated(conn, target)
        existing = existing_buckets(conn, target)
        conn.execute(sql.SQL("INSERT INTO {} (run_id, job, started_at, status) VALUES (%s, %s, %s, 'running')")
                     .format(target.table("run")), [run_id, ledger_job(job), datetime.now(timezone.utc)])
    try:
        plan = stage(intervals, run_id, existing, on_progress)
    except Exception as exc:
        _fail_run(job, run_id, one_line(exc))
        shutil.rmtree(intervals.stage_dir / run_id, ignore_errors=True)
        raise
    with target_conn(target, autocommit=True) as conn, conn.transaction():
        for key, reads in plan.units.items():
            conn.execute(sql.SQL("INSERT INTO {} (run_id, unit_key, status, counts) VALUES (%s, %s, 'pending', %s)")
                         .format(target.table("interval_unit")), [run_id, key, json.dumps({"extracted": reads})])
        copy_rejects(conn, target, run_id, PLAN_UNIT, plan.rejected)
    return plan.as_json()


def unfinished_units(job: JobConfig, run_id: str) -> list[str]:
    plan = read_plan(job.intervals_section.stage_dir, run_id)
    with target_conn(job.target, autocommit=True) as conn:
        done = {row[0] for row in conn.execute(sql.SQL(
            "SELECT unit_key FROM {} WHERE run_id = %s AND status = 'done'"
        ).format(job.target.table("interval_unit")), [run_id])}
    return [unit["key"] for unit in plan["units"] if unit["key"] not in done]


def run_intervals(job: JobConfig, executor: str | None = None, scheduler: str | None = None,
                  resume: str | None = None, on_progress: Callable[[int], None] | None = None,
                  on_unit: OnUnit | None = None) -> dict:
    """The whole job; returns the run's report (also written as JSON and HTML)."""
    settings = job.intervals_section.executor
    if resume is not None:
        _reopen(job, resume)
    run_id = resume or plan_run(job, on_progress)["run_id"]
    keys = unfinished_units(job, run_id)
    execute(job, run_id, keys, executor or settings.kind, scheduler, on_unit)
    return finish(job, run_id)


def _reopen(job: JobConfig, run_id: str) -> None:
    with target_conn(job.target, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT status FROM {} WHERE run_id = %s AND job = %s").format(
            job.target.table("run")), [run_id, ledger_job(job)]).fetchone()
        if row is None:
            raise EtlError(f"no intervals run {run_id} of job {job.name}: its runs are in the ledger as job "
                           f"`{ledger_job(job)}`; `smart360-etl intervals` without --resume starts a new one")
        if row[0] == "succeeded":
            raise EtlError(f"run {run_id} finished already: nothing to resume")
        conn.execute(sql.SQL("UPDATE {} SET status = 'running', error = NULL WHERE run_id = %s")
                     .format(job.target.table("run")), [run_id])


def _fail_run(job: JobConfig, run_id: str, error: str) -> None:
    with target_conn(job.target, autocommit=True) as conn:
        conn.execute(sql.SQL("UPDATE {} SET status = 'failed', finished_at = clock_timestamp(), error = %s "
                             "WHERE run_id = %s").format(job.target.table("run")), [error[:2000], run_id])


def finish(job: JobConfig, run_id: str) -> dict:
    """Sum the units into the run's counts, check they reconcile, write the reports, mark the run."""
    target = job.target
    with target_conn(target, autocommit=True) as conn:
        require_migrated(conn, target)
        units = [dict(zip(("key", "status", "attempts", "counts", "findings", "error"), row)) for row in conn.execute(
            sql.SQL("SELECT unit_key, status, attempts, counts, findings, error FROM {} WHERE run_id = %s "
                    "ORDER BY unit_key").format(target.table("interval_unit")), [run_id])]
        plan = read_plan(job.intervals_section.stage_dir, run_id)
        report = _report(job, run_id, plan, units)
        conn.execute(sql.SQL(
            "UPDATE {} SET status = %s, finished_at = clock_timestamp(), extracted = %s, inserted = %s, updated = %s, "
            "unchanged = %s, rejected = %s, rejects_by_reason = %s, warnings_by_reason = %s, checks = %s, error = %s "
            "WHERE run_id = %s"
        ).format(target.table("run")), [report["status"], *(report["counts"][k] for k in OUTCOMES),
                                       json.dumps(report["rejects_by_reason"]), json.dumps(report["flags_by_rule"]),
                                       json.dumps(report["reconciliation"]), report.get("error"), run_id])
    report["report_path"] = str(write_report(report, job.report_dir, job.report.mask_personal_data))
    if report["status"] == "succeeded":
        shutil.rmtree(job.intervals_section.stage_dir / run_id, ignore_errors=True)
    return report


def _report(job: JobConfig, run_id: str, plan: dict, units: list[dict]) -> dict:
    counts = dict.fromkeys(OUTCOMES, 0)
    counts["extracted"] = plan["extracted"]
    counts["rejected"] = plan["rejected_at_read"]
    rejects: dict[str, int] = dict(plan["rejects_at_read"])
    flags: dict[str, int] = {}
    for unit in units:
        done = unit["status"] == "done"
        unit_counts = unit["counts"].get("counts", {}) if done else {}
        for outcome in OUTCOMES[1:]:
            counts[outcome] += unit_counts.get(outcome, 0)
        for reason, n in (unit["counts"].get("rejects_by_reason", {}) if done else {}).items():
            rejects[reason] = rejects.get(reason, 0) + n
        for rule, found in (unit["findings"] or {}).items():
            flags[rule] = flags.get(rule, 0) + found.get("reads", found.get("meter_days", found.get("meter_months", 0)))
    return _assembled(job, run_id, plan, units, counts, rejects, flags)


def _assembled(job: JobConfig, run_id: str, plan: dict, units: list[dict], counts: dict, rejects: dict,
               flags: dict) -> dict:
    done = [u for u in units if u["status"] == "done"]
    failed = [u for u in units if u["status"] != "done"]
    source_sum = sum((Decimal(u["counts"]["sum"]) for u in done), Decimal(0))
    target_sum = sum((Decimal(u["counts"]["target_sum"]) for u in done), Decimal(0))
    staged_extracted = sum(u["counts"].get("counts", {}).get("extracted", 0) for u in done)
    balanced = counts["inserted"] + counts["updated"] + counts["unchanged"] + counts["rejected"]
    reconciles = not failed and balanced == counts["extracted"] and source_sum == target_sum
    return {
        "run_id": run_id, "job": ledger_job(job), "status": "succeeded" if reconciles else "failed",
        "counts": counts, "rejects_by_reason": dict(sorted(rejects.items())),
        "flags_by_rule": dict(sorted(flags.items())),
        "reconciliation": {"balanced": balanced == counts["extracted"], "source_sum": str(source_sum),
                           "target_sum": str(target_sum), "sums_equal": source_sum == target_sum,
                           "unit_reads": staged_extracted, "unit": job.intervals_section.unit},
        "units": [{"key": u["key"], "status": u["status"], "attempts": u["attempts"],
                   "counts": (u["counts"] or {}).get("counts", u["counts"]), "sum": (u["counts"] or {}).get("sum"),
                   "findings": u["findings"] or {}, "error": u["error"]} for u in units],
        "error": None if not failed else f"{len(failed)} unit(s) did not finish: "
                 f"{', '.join(u['key'] for u in failed[:5])}; run again with --resume {run_id}",
        "personal_data_masked": job.report.mask_personal_data,
    }

"""run(job) -> RunResult: extract, map, load, reconcile, check, report; one transaction, one result object."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import psycopg

from ..checks.context import CheckContext, RunFacts
from ..checks.runner import gather_findings
from ..config import JobConfig
from ..db import target_connection
from ..errors import EtlError, ReconciliationError, RunBlocked, StageFailed
from ..load import ledger
from ..load.consumers import ConsumerLoader, LoadCounts
from ..load.entities import EntityLoader
from ..load.source_keys import SourceKeys, stage_source_keys
from ..load.totals import business_totals
from ..mapping.accounts import AccountRules
from ..report import write_reports
from ..result import RunResult
from ..review.resubmit import FileSource, Resubmission, mark_resolved
from ..sources import open_source
from ..urls import redact
from . import incremental
from .changes import ChangedRows, stored_keys
from .context import NO_HOOKS, OnProgress, RunContext, RunHooks, new_run_id
from .drift import SchemaDrift
from .passes import key_frames, main_pass
from .preflight import preflight, run_account_rules, take_accounts_lock, take_run_lock

log = logging.getLogger("smart360_etl")


def run(
    job: JobConfig,
    *,
    dry_run: bool = False,
    on_progress: OnProgress | None = None,
    run_id: str | None = None,
    on_finish: Callable[[RunResult], None] | None = None,
    full_refresh: bool = False,
    before_rollback: Callable[[psycopg.Connection], None] | None = None,
    lock_wait_s: float = 0,
    hooks: RunHooks = NO_HOOKS,
    resubmit: Resubmission | None = None,
) -> RunResult:
    """One run of `job`. Raises StageFailed (target rolled back) or RunLocked; writes the JSON report either way.

    `on_finish` gets the result once the report is written, whether the run succeeded or not.
    `full_refresh` reads the whole source even when an incremental watermark is stored.
    `before_rollback` (dry runs) sees the target as the run would leave it, inside the transaction.
    `lock_wait_s`: how long to wait for another run of the job to end before refusing (RunLocked).
    `hooks`: where tests inject faults (context.RunHooks).
    `resubmit`: load a fixed rejects file instead of the source (review/resubmit.py), never incrementally.
    """
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    if resubmit is not None:
        job = job.model_copy(update={"source": job.source.model_copy(update={"incremental": None})})
    with FileSource(resubmit) if resubmit is not None else open_source(job.source) as source:
        result = RunResult(
            run_id or new_run_id(),
            job.name,
            "dry_run" if dry_run else "ok",
            dry_run,
            started.isoformat(),
            source.describe(),
            resubmits=resubmit.fixes_run if resubmit is not None else None,
        )
        try:
            with target_connection(job.target) as conn:
                if job.accounts is not None:
                    take_accounts_lock(conn, job)  # the first statement: before any table of the target is read
                checks, rules = preflight(conn, job, source, result)  # before any write
                with conn.transaction(force_rollback=result.dry_run):
                    take_run_lock(conn, job.name, lock_wait_s)
                    context = RunContext(conn, job, job.region_config(), source, rules, checks, result, started,
                                         on_progress, full_refresh, before_rollback, hooks, resubmit)
                    _run_in_transaction(context)
        except BaseException as exc:
            _failed(job, result, started, exc)
            raise
        finally:
            result.duration_s = round(time.perf_counter() - clock, 3)
            _write_reports(job, result)
            if on_finish is not None:
                on_finish(result)
    return result


def _failed(job: JobConfig, result: RunResult, started: datetime, exc: BaseException) -> None:
    """The result of a run that raised; on record in the ledger (after the rollback) unless a dry run."""
    interrupted = not isinstance(exc, (EtlError, psycopg.Error))  # Ctrl-C, SIGTERM, a bug
    result.status = "failed"
    result.error = f"interrupted ({type(exc).__name__}): rolled back" if interrupted else redact(str(exc))
    drifted = isinstance(exc, SchemaDrift) or (
        isinstance(exc, RunBlocked) and any(isinstance(p, SchemaDrift) for p in exc.problems)
    )
    if (interrupted or drifted or isinstance(exc, StageFailed)) and not result.dry_run:
        _record_failure(job, result.run_id, started, result.error)


def _write_reports(job: JobConfig, result: RunResult) -> None:
    """The run's reports; a failure to write them is logged and leaves the run's status as it is (the data
    is committed or rolled back by then)."""
    try:
        result.report_path = str(write_reports(result, job.report_dir, job.report.mask_personal_data))
    except Exception as exc:  # a full disk, a folder without write permission, a bug in a page
        log.error("the run's report could not be written to %s: %s (the run's status is %s)", job.report_dir,
                  redact(str(exc)), result.status, extra={"stage": "report"})


def _run_in_transaction(run: RunContext) -> None:
    conn, job, result = run.conn, run.job, run.result
    _record_start(run)
    stage = "extract"

    def reach(event: str) -> None:  # STAGE_EVENTS; the id pass is part of the extract stage
        nonlocal stage
        stage = stage if event == "id_pass" else event
        run.hooks.at(event)

    try:
        reach("extract")
        window = incremental.open_window(conn, job, run.source, run.full_refresh) if job.source.incremental else None
        reach("id_pass")
        keys, accounts, changed = _id_pass(run, window)
        reach("load")
        extracted, counts, into_empty = _load(run, keys, changed, accounts)
        if window is not None:
            reach("sync")
            result.incremental = incremental.finish_incremental(run, window)
        reach("reconcile")
        _reconcile(result, extracted, counts, keys.rows)
        if run.resubmit is not None:
            reach("resubmit")
            result.resubmission = mark_resolved(conn, job, result.run_id, run.resubmit)
        reach("check")
        # A first load or a full refresh checks the whole target; a later run the consumers it wrote.
        _check(run, keys.ids, scoped=not (into_empty or run.full_refresh))
        if not result.dry_run:
            ledger.record_success(conn, job.target, result.run_id, result)
        elif run.before_rollback is not None:
            reach("export")
            run.before_rollback(conn)
    except Exception as exc:
        raise StageFailed(stage, result.run_id, exc, result.dry_run) from exc


def _record_start(run: RunContext) -> None:
    job, result = run.job, run.result
    if result.dry_run:  # on record only inside the transaction that is rolled back
        ledger.record_start(run.conn, job.target, result.run_id, job.name, run.started)
        return
    abandoned = ledger.record_start_apart(job.target.url, job.target, result.run_id, job.name, run.started)
    if abandoned:
        log.warning("%d earlier run(s) of job %s never finished (killed?): marked abandoned", abandoned,
                    job.name, extra={"stage": "start"})


def _id_pass(
    run: RunContext, window: incremental.Window | None
) -> tuple[SourceKeys, AccountRules | None, ChangedRows | None]:
    """The source's keys staged in the target; the account rules (with accounts). In compare mode this is
    the one read of the source, which keeps the rows that changed since the last run for the main pass."""
    conn, job = run.conn, run.job
    hashed = window is not None
    accounts = run_account_rules(conn, job, list(run.result.source_schema)) if job.accounts else None
    changed = None
    if window is not None and window.mode == "compare":
        stored = np.empty(0, dtype=np.uint64) if run.full_refresh else stored_keys(conn, job)
        changed = ChangedRows(job, run.source, run.rules, stored)
        frames = changed.key_frames(claims=accounts)
    else:
        frames = key_frames(job, run.source, run.rules, hashed, claims=accounts)
    try:
        keys = stage_source_keys(conn, frames, with_hash=hashed, with_claims=accounts is not None)
        if changed is not None:
            changed.find_late(conn, keys.duplicates)
    except BaseException:
        if changed is not None:
            changed.close()
        raise
    log.info("%d source rows, %d consumer ids, %d of them more than once%s", keys.rows, keys.ids,
             len(keys.duplicates), "" if changed is None else f"; {changed.skipped} unchanged since the last run",
             extra={"stage": "extract"})
    return keys, accounts, changed


def _load(
    run: RunContext, keys: SourceKeys, changed: ChangedRows | None, accounts: AccountRules | None
) -> tuple[int, LoadCounts, bool]:
    """The main pass into the consumer loader (and, with accounts, the entity loader); (rows read, counts,
    whether the consumer table was empty)."""
    conn, job, result = run.conn, run.job, run.result
    loader = ConsumerLoader(conn, job.target, result.run_id, before_copy=run.hooks.before_copy)
    entities = EntityLoader(conn, job, result.run_id) if job.accounts else None
    extracted = main_pass(run, keys, loader, changed, accounts, entities)
    if entities is not None:
        entities.finish()
        result.entities, result.unmapped_codes = entities.report()
        result.business_totals = business_totals(conn, job, entities.source_totals, entities.into_empty)
    return extracted, loader.counts, loader.into_empty


def _check(run: RunContext, key_count: int, scoped: bool) -> None:
    result = run.result
    facts = RunFacts(result.run_id, result.counts, result.rejects_by_reason, key_count, result.incremental)
    context = CheckContext(run.conn, run.job.target, run.region, result.run_id, facts, scoped=scoped)
    outcomes, found = gather_findings(context, run.checks, run.on_progress)
    for key, value in found.items():
        setattr(result, key, value)
    if any(outcome.status == "fail" for outcome in outcomes) and not result.dry_run:
        result.status = "checks_failed"


def _reconcile(result: RunResult, extracted: int, counts: LoadCounts, rows_in_id_pass: int) -> None:
    result.counts = {
        "extracted": extracted,
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "rejected": counts.rejected,
    }
    result.rejects_by_reason = dict(counts.rejects_by_reason.most_common())
    result.warnings_by_reason = dict(counts.warnings_by_reason.most_common())
    result.reason_samples = counts.reason_samples
    # Rows the database acknowledged (COPY row counts) against rows read from the source.
    # ... and against the first pass over the same snapshot.
    balanced = extracted == counts.staged + counts.skipped + counts.rejected == rows_in_id_pass
    balanced = balanced and counts.unchanged >= 0
    log.info(result.reconciliation, extra={"stage": "reconcile"})
    if not balanced:
        raise ReconciliationError(result.counts)


def _record_failure(job: JobConfig, run_id: str, started: datetime, error: str) -> None:
    try:
        ledger.record_failure(job.target.url, job.target, run_id, job.name, started, error)
    except (psycopg.Error, EtlError) as exc:  # the run's own error matters more than the ledger's
        log.warning("could not record the failure of run %s in the ledger: %s", run_id, exc)

"""run(job) -> RunResult: extract, map, load, reconcile, report; one transaction, one result object."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from ..checks import Check, Outcome
from ..checks.context import CheckContext, RunFacts
from ..checks.runner import configured_checks, gather_findings
from ..config import JobConfig, TargetConfig, parse_duration, redact
from ..db import connect, for_whole_tables
from ..errors import (
    ConfigError,
    EtlError,
    ReconciliationError,
    RunBlocked,
    RunLocked,
    StageFailed,
    TargetError,
    TargetNotInitialised,
    job_file,
)
from ..load import ledger
from ..load.consumers import ConsumerLoader, LoadCounts
from ..load.entities import EntityLoader, business_totals
from ..load.schema import column_limits, pending_migrations, require_migrated
from ..load.source_keys import SourceKeys, stage_source_keys
from ..mapping.accounts import AccountRules, account_rules, claimed_numbers
from ..mapping.duplicates import duplicate_ids
from ..mapping.fields import FieldRule, build_rules, mapping_notes
from ..mapping.mapper import map_batch, map_field
from ..mapping.text import hash_rows
from ..mapping.unloaded import unloaded_columns, unloaded_message
from ..regions import Region
from ..report import write_reports, write_validation_report
from ..result import RunResult
from ..sources import open_source
from . import incremental as sync
from .background import BackgroundWriter
from .drift import SchemaDrift, source_drift, target_drift

log = logging.getLogger("smart360_etl")
OnProgress = Callable[[str, int, int | None], None]  # what is being done, how far, out of (when known)


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@contextmanager
def target_connection(target: TargetConfig) -> Iterator[psycopg.Connection]:
    conn = connect(target.url, target.connect_retries, "the SMART360 target", "target.url", TargetError)
    with conn:
        yield conn


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
) -> RunResult:
    """One run of `job`. Raises StageFailed (target rolled back) or RunLocked; writes the JSON report either way.

    `on_finish` gets the result once the report is written, whether the run succeeded or not.
    `full_refresh` reads the whole source even when an incremental watermark is stored.
    `before_rollback` (dry runs) sees the target as the run would leave it, inside the transaction.
    `lock_wait_s`: how long to wait for another run of the job to end before refusing (RunLocked).
    """
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    with open_source(job.source) as source:
        result = RunResult(
            run_id or new_run_id(),
            job.name,
            "dry_run" if dry_run else "ok",
            dry_run,
            started.isoformat(),
            source.describe(),
        )
        try:
            with target_connection(job.target) as conn:
                if job.accounts is not None:
                    _take_accounts_lock(conn, job)  # the first statement: before any table of the target is read
                checks, rules = _preflight(conn, job, source, result)  # before any write
                with conn.transaction(force_rollback=result.dry_run):
                    _take_run_lock(conn, job.name, lock_wait_s)
                    context = RunContext(conn, job, job.region_config(), source, rules, checks, result, started,
                                         on_progress, full_refresh, before_rollback)
                    _run_in_transaction(context)
        except BaseException as exc:
            interrupted = not isinstance(exc, (EtlError, psycopg.Error))  # Ctrl-C, SIGTERM, a bug
            result.status = "failed"
            result.error = f"interrupted ({type(exc).__name__}): rolled back" if interrupted else redact(str(exc))
            drifted = isinstance(exc, SchemaDrift) or (
                isinstance(exc, RunBlocked) and any(isinstance(p, SchemaDrift) for p in exc.problems)
            )
            if (interrupted or drifted or isinstance(exc, StageFailed)) and not dry_run:  # after the rollback
                _record_failure(job, result.run_id, started, result.error)
            raise
        finally:
            result.duration_s = round(time.perf_counter() - clock, 3)
            _write_reports(job, result)
            if on_finish is not None:
                on_finish(result)
    return result


def _write_reports(job: JobConfig, result: RunResult) -> None:
    """The run's reports; a failure to write them is logged and leaves the run's status as it is (the data
    is committed or rolled back by then)."""
    try:
        result.report_path = str(write_reports(result, job.report_dir, job.report.mask_personal_data))
    except Exception as exc:  # a full disk, a folder without write permission, a bug in a page
        log.error("the run's report could not be written to %s: %s (the run's status is %s)", job.report_dir,
                  redact(str(exc)), result.status, extra={"stage": "report"})


@dataclass
class RunContext:
    """What the stages of one run share, inside its transaction (the job's run lock held)."""

    conn: psycopg.Connection
    job: JobConfig
    region: Region  # the job's, validated once
    source: Any  # an open source (sources/)
    rules: list[FieldRule]
    checks: list[Check]
    result: RunResult
    started: datetime
    on_progress: OnProgress | None = None
    full_refresh: bool = False
    before_rollback: Callable[[psycopg.Connection], None] | None = None


def _run_in_transaction(run: RunContext) -> None:
    conn, job, source, rules, result, started = run.conn, run.job, run.source, run.rules, run.result, run.started
    if result.dry_run:  # on record only inside the transaction that is rolled back
        ledger.record_start(conn, job.target, result.run_id, job.name, started)
    else:
        abandoned = ledger.record_start_apart(job.target.url, job.target, result.run_id, job.name, started)
        if abandoned:
            log.warning("%d earlier run(s) of job %s never finished (killed?): marked abandoned", abandoned,
                        job.name, extra={"stage": "start"})
    stage = "extract"
    try:
        window = sync.open_window(conn, job, source, run.full_refresh) if job.source.incremental else None
        hashed = window is not None
        accounts = _account_rules(conn, job, list(result.source_schema)) if job.accounts else None
        keys = stage_source_keys(
            conn,
            _key_frames(job, source, rules, hashed, claims=accounts),
            with_hash=hashed,
            with_claims=accounts is not None,
        )
        skip = sync.unchanged_ids(conn, job, keys.duplicates) if hashed and window.mode == "compare" else None
        log.info(
            "%d source rows, %d consumer ids, %d of them more than once",
            keys.rows,
            keys.ids,
            len(keys.duplicates),
            extra={"stage": "extract"},
        )
        stage = "load"
        loader = ConsumerLoader(conn, job.target, result.run_id)
        entities = EntityLoader(conn, job, result.run_id) if job.accounts else None
        extracted = _stream(run, keys, loader, skip, accounts, entities)
        if entities is not None:
            entities.finish()
            result.entities, result.unmapped_codes = entities.report()
            result.business_totals = business_totals(conn, job, entities.source_totals, entities.into_empty)
        if window is not None:
            stage = "sync"
            result.incremental = _finish_incremental(run, window)
        stage = "reconcile"
        _reconcile(result, extracted, loader.counts, keys.rows)
        stage = "check"
        _check(run, keys.ids)
        if not result.dry_run:
            ledger.record_success(conn, job.target, result.run_id, result)
        elif run.before_rollback is not None:
            stage = "export"
            run.before_rollback(conn)
    except Exception as exc:
        raise StageFailed(stage, result.run_id, exc, result.dry_run) from exc


def _take_run_lock(conn: psycopg.Connection, job: str, wait_s: float = 0) -> None:
    """The job's lock for the transaction; waits up to `wait_s` for a run holding it (a run killed a moment
    ago keeps it until the server notices, about a second)."""
    deadline = time.monotonic() + wait_s
    while not conn.execute(
        "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"smart360-etl:run:{job}"]
    ).fetchone()[0]:
        if time.monotonic() >= deadline:
            raise RunLocked(job)
        time.sleep(0.25)


def _take_accounts_lock(conn: psycopg.Connection, job: JobConfig) -> None:
    """Runs with accounts into one target schema take turns, before they read any of its tables: two
    bulk loads into the same empty tables would each hold what the other's constraint changes need (a
    deadlock). The second waits, says so, and runs when the first ends."""
    key = [f"smart360-etl:accounts:{job.target.schema_}"]
    if conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", key).fetchone()[0]:
        return
    log.warning("another run with accounts is loading into schema %s: waiting for it to end", job.target.schema_,
                extra={"stage": "start"})
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", key)


def _preflight(conn: psycopg.Connection, job: JobConfig, source, result: RunResult) -> tuple[list, list]:
    """(checks, rules), or every problem that stops the run before it writes, raised at once (RunBlocked;
    one alone is raised as itself). `doctor` looks for the same ones, each as a finding (doctor.py)."""
    problems: list[EtlError] = []

    def attempt(step):
        try:
            return step()
        except EtlError as exc:
            problems.append(exc)

    checks = attempt(lambda: configured_checks(job.checks))
    attempt(lambda: require_migrated(conn, job.target))
    migrated = not any(isinstance(p, TargetNotInitialised) for p in problems)
    rules = attempt(lambda: _guard_schema(conn, job, source, result))
    if migrated and job.accounts is not None:
        attempt(lambda: known_tariff_plans(conn, job))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RunBlocked(problems)
    return checks, rules


def _guard_schema(conn: psycopg.Connection, job: JobConfig, source, result: RunResult) -> list:
    """Compare source and target with what the mapping needs; breaking drift stops the run before any write."""
    result.source_schema = source.schema()
    drifts = []
    if not pending_migrations(conn, job.target):  # else there is no baseline yet, and `init` comes first
        previous = ledger.last_source_schema(conn, job.target, job.name)
        drifts = source_drift(previous, result.source_schema, job.mapping, job.columns)
        drifts += target_drift(conn, job.target, job.mapping)
    result.drift = [drift.to_json() for drift in drifts]
    for drift in drifts:
        if not drift.breaking:
            log.warning("schema drift: %s", drift.message, extra={"stage": "schema"})
    if any(drift.breaking for drift in drifts):
        raise SchemaDrift(drifts)
    columns = list(result.source_schema)
    rules = build_rules(job.mapping, columns, job.name_order, job.columns)
    for problem, note in mapping_notes(job.mapping, columns, job.columns):
        log.log(logging.WARNING if problem else logging.INFO, "mapping: %s", note, extra={"stage": "schema"})
    result.unloaded_columns = unloaded_columns(job, columns, rules)
    if result.unloaded_columns:
        log.warning("%s", unloaded_message(job, result.unloaded_columns), extra={"stage": "schema"})
    return _within_limits(conn, job, rules)


def _within_limits(conn: psycopg.Connection, job: JobConfig, rules: list) -> list:
    """Rules that know the target's column lengths: a value too long for one rejects its row (value_too_long)
    instead of failing the whole load."""
    limits = column_limits(conn, job.target)
    for rule in rules:
        if rule.target in limits:
            log.info(
                "target column %s.consumer.%s holds at most %d characters; longer values are rejected",
                job.target.schema_,
                rule.target,
                limits[rule.target],
                extra={"stage": "schema"},
            )
    return [replace(rule, max_length=limits.get(rule.target)) for rule in rules]


def _id_batches(job: JobConfig, source, rules, whole: bool = False) -> Iterator[pl.Series]:
    """A narrow pass over the source's id column (same snapshot as the main pass), mapped; `whole` reads
    past an incremental window."""
    id_rule, region = _id_rule(rules), job.region_config()
    for batch in source.batches(job.source.batch_size, columns=[id_rule.column], whole=whole):
        yield map_field(batch, id_rule, region)


def _id_rule(rules: list[FieldRule]) -> FieldRule:
    return next(rule for rule in rules if rule.target == "consumer_id")


def _key_frames(
    job: JobConfig, source, rules, hashed: bool, whole: bool = False, claims: AccountRules | None = None
) -> Iterator[pl.DataFrame]:
    """The first pass as frames of `consumer_id`; for incremental runs with `row_hash` (of the whole row);
    with `claims`, with the `account_number` and `meter_number` (a list) each record claims."""
    id_rule, region = _id_rule(rules), job.region_config()
    columns = [id_rule.column]
    if claims is not None:
        columns += [claims.columns["account_number"], claims.columns["meter_number"]]
    for batch in source.batches(
        job.source.batch_size, columns=None if hashed else list(dict.fromkeys(columns)), whole=whole
    ):
        parts = [map_field(batch, id_rule, region).alias("consumer_id")]
        if hashed:
            parts.append(hash_rows(batch))
        frame = pl.DataFrame(parts)
        yield frame.hstack(claimed_numbers(batch, claims)) if claims is not None else frame


def _finish_incremental(run: RunContext, window: sync.Window) -> dict:
    """After the load: remember what was loaded, find deleted rows, verify the window, move the watermark."""
    conn, job, source, rules, run_id = run.conn, run.job, run.source, run.rules, run.result.run_id
    settings = job.source.incremental
    for_whole_tables(conn)  # whole-table joins from here on
    sync.record_loaded(conn, job, run_id)
    deleted: list[str] = []
    if settings.deletes != "ignore":
        if not window.whole_source:
            sync.stage_all_keys(conn, _id_batches(job, source, rules, whole=True))
        if settings.deletes == "mark_inactive":
            sync.reactivate(conn, job)
        deleted = sync.deleted_ids(conn, job, window)
    fresh = None
    if window.mode == "column" and window.since is not None:
        fresh = _fresh_window(job, rules, window)
    failing, total, sample = sync.verify_window(conn, job, window, run_id, fresh)
    if failing == 0:
        sync.save_watermark(conn, job, window, run_id)
    else:
        log.warning(
            "window verification: %d of %d rows differ; the watermark stays at %s so the next run reads them again",
            failing,
            total,
            window.since,
            extra={"stage": "sync"},
        )
    return {
        "mode": window.mode,
        "window": window.describe(),
        "since": window.since,
        "until": window.until,
        "watermark_saved": failing == 0 and window.mode == "column" and window.until is not None,
        "verified": {"failing": failing, "total": total, "sample": sample},
        "deletes": settings.deletes,
        "deleted": {"count": len(deleted), "sample": deleted[:20]},
    }


def _fresh_window(job: JobConfig, rules, window: sync.Window) -> Iterator[pl.DataFrame]:
    """The run's window read again in a new snapshot: rows committed late with an old stamp show up here."""
    settings = job.source.incremental
    with open_source(job.source) as fresh:
        fresh.restrict(settings.column, window.since, parse_duration(settings.overlap).total_seconds(), window.until)
        yield from _key_frames(job, fresh, rules, hashed=True)


def _account_rules(conn: psycopg.Connection, job: JobConfig, source_columns: list[str]) -> AccountRules:
    """The account columns and code crosswalks; crosswalk targets must be plans SMART360 has (or may create)."""
    return account_rules(job.accounts, job.crosswalks, source_columns, known_tariff_plans(conn, job))


def known_tariff_plans(conn: psycopg.Connection, job: JobConfig) -> set[str]:
    """The target's plan codes; a plan the crosswalks name that is not among them is an error."""
    plans = job.target.table("tariff_plan")
    known = {row[0] for row in conn.execute(sql.SQL("SELECT code FROM {}").format(plans))}
    missing = sorted(set(job.crosswalks.tariff_plan.values()) - known)
    if job.accounts.unknown_tariff is not None and job.accounts.unknown_tariff not in known:
        missing.append(job.accounts.unknown_tariff)
    if missing and not job.accounts.create_unknown_tariffs:
        raise ConfigError(
            f"tariff plans {missing} (named in `crosswalks.tariff_plan` or `accounts.unknown_tariff`) are not in "
            f"{job.target.schema_}.tariff_plan; load them first: `smart360-etl load-reference -c {job_file()} "
            "tariff_plans.csv`"
        )
    return known


def _check(run: RunContext, key_count: int) -> None:
    result = run.result
    facts = RunFacts(result.run_id, result.counts, result.rejects_by_reason, key_count, result.incremental)
    context = CheckContext(run.conn, run.job.target, run.region, result.run_id, facts)
    outcomes, found = gather_findings(context, run.checks, run.on_progress)
    for key, value in found.items():
        setattr(result, key, value)
    if any(outcome.status == "fail" for outcome in outcomes) and not result.dry_run:
        result.status = "checks_failed"


def _stream(
    run: RunContext,
    keys: SourceKeys,
    loader: ConsumerLoader,
    skip: pl.Series | None = None,
    accounts: AccountRules | None = None,
    entities: EntityLoader | None = None,
) -> int:
    """The main pass: map each batch and hand it to the loader (which works on it while the next is mapped).

    `skip` (compare mode) holds ids whose source row is unchanged: they are counted, not mapped or written.
    """
    job, source, rules, region, on_progress = run.job, run.source, run.rules, run.region, run.on_progress
    total, done = keys.rows, 0
    id_rule = _id_rule(rules)

    def load(mapped: pl.DataFrame) -> None:  # in dependency order: consumers, then their accounts
        loader.load(mapped)
        if entities is not None:
            entities.load(mapped)

    with BackgroundWriter(load) as loading:
        for batch in source.batches(job.source.batch_size):
            height = batch.height
            numbers = pl.int_range(done + 1, done + 1 + height, dtype=pl.Int64, eager=True)
            if skip is not None and len(skip):
                keep = ~map_field(batch, id_rule, region).is_in(skip.implode()).fill_null(False)
                loader.counts.skipped += height - int(keep.sum())
                batch, numbers = batch.filter(keep), numbers.filter(keep)
            loading.submit(
                map_batch(
                    batch,
                    rules,
                    region,
                    job.disposition,
                    duplicate_ids=keys.duplicates,
                    row_numbers=numbers,
                    accounts=accounts,
                    conflicts=keys.conflicts,
                )
            )
            done += height
            log.info("mapped %d rows", done, extra={"stage": "load", "rows": done})
            if on_progress:
                on_progress("loading rows", done, total)
    return done


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


VALIDATE_LOCK_WAIT_S = 10


def validate(job: JobConfig) -> tuple[list[Outcome], Path]:
    """The checks that need no run, on whatever the target holds; also written to validate-<id>.json."""
    validation_id = "validate-" + new_run_id()
    checks = configured_checks(job.checks)
    with target_connection(job.target) as conn:
        require_migrated(conn, job.target)
        with conn.transaction():
            # Never wait silently on a run: the job's own run is refused at once, another job's locks in time.
            _take_run_lock(conn, job.name)
            conn.execute(f"SET LOCAL lock_timeout = '{VALIDATE_LOCK_WAIT_S}s'")
            context = CheckContext(conn, job.target, job.region_config(), validation_id)
            try:
                outcomes, found = gather_findings(context, checks)
            except psycopg.errors.LockNotAvailable:
                raise TargetError(
                    f"validate waited {VALIDATE_LOCK_WAIT_S} s for a table that a run in progress holds (another "
                    "job loading into this target?); nothing was checked: run validate when that run ends"
                ) from None
    return outcomes, write_validation_report(
        validation_id, job.name, found, job.report_dir, job.report.mask_personal_data
    )


def history(job: JobConfig, limit: int = 20) -> list[dict]:
    """The job's last runs from the ledger, newest first."""
    with target_connection(job.target) as conn:
        require_migrated(conn, job.target)
        return ledger.history(conn, job.target, job.name, limit)


def last_started(job: JobConfig):
    """When the job's latest run started (None before the first): the scheduler's catch-up needs it."""
    with target_connection(job.target) as conn:
        require_migrated(conn, job.target)
        return ledger.last_started(conn, job.target, job.name)


def preview(job: JobConfig, limit: int = 20) -> pl.DataFrame:
    """The first `limit` source rows mapped, with the reasons they would be rejected or warned; no writes."""
    with open_source(job.source, limit=limit) as source:
        rules = build_rules(job.mapping, source.columns(), job.name_order, job.columns)
        duplicates = duplicate_ids(
            pl.concat([pl.Series("consumer_id", [], pl.String), *_id_batches(job, source, rules)]).drop_nulls()
        )
        # Without the target, the crosswalks' plan codes are taken as the plans SMART360 has.
        accounts = (
            account_rules(job.accounts, job.crosswalks, source.columns(), set(job.crosswalks.tariff_plan.values()))
            if job.accounts
            else None
        )
        frames = [
            map_batch(b, rules, job.region_config(), job.disposition, duplicate_ids=duplicates, accounts=accounts)
            for b in source.batches(limit)
        ]
    return pl.concat(frames) if frames else pl.DataFrame()

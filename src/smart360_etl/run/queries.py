"""The commands that read the target or the source without a run: validate, history, preview."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import psycopg

from ..checks import Outcome
from ..checks.context import CheckContext
from ..checks.runner import configured_checks, gather_findings
from ..config import JobConfig
from ..db import target_connection
from ..errors import TargetError
from ..load import ledger
from ..load.schema import require_migrated
from ..mapping.accounts import account_rules
from ..mapping.duplicates import duplicate_ids
from ..mapping.fields import build_rules
from ..mapping.mapper import map_batch
from ..report import write_validation_report
from ..sources import open_source
from .context import new_run_id
from .passes import id_batches
from .preflight import take_run_lock

VALIDATE_LOCK_WAIT_S = 10


def validate(job: JobConfig, lock_wait_s: float = VALIDATE_LOCK_WAIT_S) -> tuple[list[Outcome], Path]:
    """The checks that need no run, on whatever the target holds; also written to validate-<id>.json.

    A table that a run in progress holds is waited on for `lock_wait_s`, then validate gives up and says so.
    """
    validation_id = "validate-" + new_run_id()
    checks = configured_checks(job.checks)
    with target_connection(job.target) as conn:
        require_migrated(conn, job.target)
        with conn.transaction():
            # Never wait silently on a run: the job's own run is refused at once, another job's locks in time.
            take_run_lock(conn, job.name)
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [f"{round(lock_wait_s * 1000)}ms"])
            context = CheckContext(conn, job.target, job.region_config(), validation_id)
            try:
                outcomes, found = gather_findings(context, checks)
            except psycopg.errors.LockNotAvailable:
                raise TargetError(
                    f"validate waited {lock_wait_s:g} s for a table that a run in progress holds (another "
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


def last_started(job: JobConfig) -> datetime | None:
    """When the job's latest run started (None before the first): the scheduler's catch-up needs it."""
    with target_connection(job.target) as conn:
        require_migrated(conn, job.target)
        return ledger.last_started(conn, job.target, job.name)


def preview(job: JobConfig, limit: int = 20) -> pl.DataFrame:
    """The first `limit` source rows mapped, with the reasons they would be rejected or warned; no writes."""
    with open_source(job.source, limit=limit) as source:
        rules = build_rules(job.mapping, source.columns(), job.name_order, job.columns)
        duplicates = duplicate_ids(
            pl.concat([pl.Series("consumer_id", [], pl.String), *id_batches(job, source, rules)]).drop_nulls()
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

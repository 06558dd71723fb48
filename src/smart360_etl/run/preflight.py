"""Before a run writes: the job's locks, and every problem that would stop it (schema drift, a target
not migrated, unknown tariff plans, bad checks), found at once. `doctor` looks for the same ones."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import psycopg
from psycopg import sql

from ..checks import Check
from ..checks.runner import configured_checks
from ..config import JobConfig
from ..db import one_row
from ..errors import ConfigError, EtlError, RunBlocked, RunLocked, TargetNotInitialised, job_file
from ..load import ledger
from ..load.entities import ENTITY_TABLES
from ..load.schema import column_limits, pending_migrations, require_migrated
from ..mapping.accounts import AccountRules, account_rules
from ..mapping.fields import FieldRule, build_rules, mapping_notes
from ..mapping.unloaded import unloaded_columns, unloaded_message
from ..result import RunResult
from ..review.rejects import chosen_run
from ..sources import source_kind
from .drift import SchemaDrift, entity_drift, source_drift, target_drift

log = logging.getLogger("smart360_etl")


def take_run_lock(conn: psycopg.Connection, job: str, wait_s: float = 0) -> None:
    """The job's lock for the transaction; waits up to `wait_s` for a run holding it (a run killed a moment
    ago keeps it until the server notices, about a second)."""
    deadline = time.monotonic() + wait_s
    while not one_row(conn.execute(
        "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"smart360-etl:run:{job}"]
    ))[0]:
        if time.monotonic() >= deadline:
            raise RunLocked(job)
        time.sleep(0.25)


def take_accounts_lock(conn: psycopg.Connection, job: JobConfig) -> None:
    """Runs with accounts into one target schema take turns, before they read any of its tables: two
    bulk loads into the same empty tables would each hold what the other's constraint changes need (a
    deadlock). The second waits, says so, and runs when the first ends."""
    key = [f"smart360-etl:accounts:{job.target.schema_}"]
    if one_row(conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", key))[0]:
        return
    log.warning("another run with accounts is loading into schema %s: waiting for it to end", job.target.schema_,
                extra={"stage": "start"})
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", key)


def preflight(
    conn: psycopg.Connection, job: JobConfig, source, result: RunResult
) -> tuple[list[Check], list[FieldRule]]:
    """(checks, rules), or every problem that stops the run before it writes, raised at once (RunBlocked;
    one alone is raised as itself). `doctor` looks for the same ones, each as a finding (ops/doctor.py)."""
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
    if migrated and result.resubmits is not None:
        attempt(lambda: chosen_run(conn, job, result.resubmits))
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
        # A resubmitted file holds the source's columns as text: the source's own types are not its to change.
        previous = None if result.resubmits else ledger.last_source_schema(conn, job.target, job.name)
        family = source_kind(job.source).type_family
        drifts = source_drift(previous, result.source_schema, job.mapping, job.columns, family)
        drifts += target_drift(conn, job.target, job.mapping)
        if job.accounts is not None:
            drifts += entity_drift(conn, job.target, ENTITY_TABLES)
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


def run_account_rules(conn: psycopg.Connection, job: JobConfig, source_columns: list[str]) -> AccountRules:
    """The account columns and code crosswalks; crosswalk targets must be plans SMART360 has (or may create)."""
    return account_rules(job.accounts_section, job.crosswalks, source_columns, known_tariff_plans(conn, job))


def known_tariff_plans(conn: psycopg.Connection, job: JobConfig) -> set[str]:
    """The target's plan codes; a plan the crosswalks name that is not among them is an error."""
    plans = job.target.table("tariff_plan")
    known = {row[0] for row in conn.execute(sql.SQL("SELECT code FROM {}").format(plans))}
    missing = sorted(set(job.crosswalks.tariff_plan.values()) - known)
    settings = job.accounts_section
    if settings.unknown_tariff is not None and settings.unknown_tariff not in known:
        missing.append(settings.unknown_tariff)
    if missing and not settings.create_unknown_tariffs:
        raise ConfigError(
            f"tariff plans {missing} (named in `crosswalks.tariff_plan` or `accounts.unknown_tariff`) are not in "
            f"{job.target.schema_}.tariff_plan; load them first: `smart360-etl load-reference -c {job_file()} "
            "tariff_plans.csv`"
        )
    return known

"""`doctor`: everything a run needs, checked without writing anything, each problem with its fix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg

from ..checks.runner import configured_checks
from ..config import JobConfig
from ..db import connect
from ..errors import EtlError, TargetError, job_file
from ..load import ledger
from ..load.entities import ENTITY_TABLES
from ..load.privileges import missing_privileges
from ..load.schema import pending_migrations
from ..mapping.fields import build_rules, mapping_notes
from ..mapping.unloaded import unloaded_columns, unloaded_message
from ..run.drift import entity_drift, source_drift, target_drift
from ..run.preflight import known_tariff_plans
from ..sources import open_source, source_kind
from ..urls import redact


@dataclass(frozen=True)
class Finding:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def diagnose(job: JobConfig) -> list[Finding]:
    """Source, mapping, target, permissions, migrations and drift; stops early only where later steps need more."""
    findings: list[Finding] = []
    _attempt(findings, "checks", lambda: _checks(job), "fix the name in `checks:`")
    schema = _attempt(findings, "source", lambda: _read_source(job), "check `source:` in the job file")
    if schema is not None:
        unloaded = _attempt(findings, "mapping", lambda: _mapping(job, schema), "see README, 'Mapping'")
        for problem, note in mapping_notes(job.mapping, list(schema), job.columns) if unloaded is not None else []:
            fix = "write the `columns:` entry it names"
            findings.append(Finding("mapping", "warn" if problem else "ok", note, fix))
        if unloaded:
            findings.append(Finding("unloaded columns", "warn", unloaded_message(job, unloaded),
                                    "map them, or leave them if the target needs none of it"))
    try:
        conn = connect(
            job.target.url,
            job.target.connect_retries,
            "the SMART360 target",
            "target.url",
            TargetError,
            autocommit=True,
        )
    except TargetError as exc:
        findings.append(
            Finding("target", "fail", redact(str(exc)), "check `target.url`, that the server runs, and the credentials")
        )
        return findings
    with conn:
        findings.append(Finding("target", "ok", f"connected to {conn.info.dbname} on {conn.info.host}"))
        migrations = _migrations(conn, job)
        findings += migrations
        privileges = _privileges(conn, job)
        findings += privileges
        if schema is not None and migrations[0].status == "ok" and privileges[0].status == "ok":
            findings += _drift(conn, job, schema)
        if job.accounts is not None and migrations[0].status == "ok":
            fix = f"load them: `smart360-etl load-reference -c {job_file()} tariff_plans.csv`"
            _attempt(findings, "tariff plans", lambda: _tariff_plans(conn, job), fix)
    return findings


def _attempt(findings: list[Finding], name: str, step: Callable[[], tuple[object, str]], fix: str):
    try:
        value, detail = step()
    except (EtlError, psycopg.Error, OSError) as exc:
        findings.append(Finding(name, "fail", redact(str(exc)).strip(), fix))
        return None
    findings.append(Finding(name, "ok", detail))
    return value


def _checks(job: JobConfig) -> tuple[None, str]:
    return None, f"{len(configured_checks(job.checks))} checks configured"


def _tariff_plans(conn: psycopg.Connection, job: JobConfig) -> tuple[None, str]:
    return None, f"{len(known_tariff_plans(conn, job))} tariff plans in the target, every one the crosswalks name"


def _read_source(job: JobConfig) -> tuple[dict[str, str], str]:
    with open_source(job.source, limit=1) as source:
        schema = source.schema()
        rows = sum(batch.height for batch in source.batches(1))  # SELECT works, not only the catalogue
        return schema, f"{source.describe()}: {len(schema)} columns, readable ({rows} row read)"


def _mapping(job: JobConfig, schema: dict[str, str]) -> tuple[list[str], str]:
    """The mapping's fields; returns the source columns that no field reads."""
    rules = build_rules(job.mapping, list(schema), job.name_order, job.columns)
    unloaded = unloaded_columns(job, list(schema), rules)
    return unloaded, f"{len(rules)} fields mapped from {len({rule.column for rule in rules})} source columns"


def _migrations(conn: psycopg.Connection, job: JobConfig) -> list[Finding]:
    try:
        pending = pending_migrations(conn, job.target)
    except psycopg.errors.InsufficientPrivilege:
        return [Finding("migrations", "fail", f"cannot read {job.target.etl_schema}.schema_migration",
                        f"GRANT SELECT ON {job.target.etl_schema}.schema_migration TO <role>")]
    if pending:
        return [
            Finding(
                "migrations", "fail", f"pending target migrations {pending}", f"run `smart360-etl init -c {job_file()}`"
            )
        ]
    return [Finding("migrations", "ok", "target schema up to date")]


def _privileges(conn: psycopg.Connection, job: JobConfig) -> list[Finding]:
    """Every privilege the job's run needs (load/privileges.py), each missing one with its GRANT."""
    missing = [
        Finding("permissions", "fail", f"missing {what}", grant) for what, grant in missing_privileges(conn, job)
    ]
    return missing or [Finding("permissions", "ok", "the target role holds every privilege the run needs")]


def _drift(conn: psycopg.Connection, job: JobConfig, schema: dict[str, str]) -> Iterator[Finding]:
    previous = ledger.last_source_schema(conn, job.target, job.name)
    family = source_kind(job.source).type_family
    drifts = source_drift(previous, schema, job.mapping, job.columns, family)
    drifts += target_drift(conn, job.target, job.mapping)
    if job.accounts is not None:
        drifts += entity_drift(conn, job.target, ENTITY_TABLES)
    for drift in drifts:
        yield Finding(f"drift ({drift.side})", "fail" if drift.breaking else "warn", drift.message, drift.fix)
    if not drifts:
        baseline = "the last successful run" if previous else "the mapping (no earlier run to compare with)"
        yield Finding("drift", "ok", f"source and target match {baseline}")

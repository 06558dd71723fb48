"""The privileges a run of a job needs on the target, table by table.

`doctor` checks each one and names the GRANT for what is missing; tests/test_doctor.py runs jobs as a role
that holds exactly this list and nothing else, so the list cannot fall behind the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from ..config import JobConfig
from ..db import one_row

READ_WRITE = ("SELECT", "INSERT", "UPDATE")


@dataclass(frozen=True)
class Needed:
    schema: str
    table: str
    privileges: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def required_privileges(job: JobConfig) -> list[Needed]:
    """Per table, what the job's run reads and writes (beyond USAGE on both schemas and TEMP on the database)."""
    schema, etl = job.target.schema_, job.target.etl_schema
    needed = [
        Needed(schema, "consumer", READ_WRITE),
        Needed(etl, "schema_migration", ("SELECT",)),
        Needed(etl, "run", READ_WRITE),
        Needed(etl, "reject", READ_WRITE),  # UPDATE: a resubmission marks the rejects it resolved
        Needed(etl, "run_consumer", ("SELECT", "INSERT")),
        Needed(etl, "warning", ("SELECT", "INSERT")),
        Needed(etl, "source_row", (*READ_WRITE, "DELETE")),
        Needed(etl, "duplicate_candidate", ("SELECT", "INSERT", "DELETE")),
    ]
    if job.source.incremental is not None:
        needed.append(Needed(etl, "watermark", READ_WRITE))
    if job.accounts is not None:
        plans = ("SELECT", "INSERT") if job.accounts.create_unknown_tariffs else ("SELECT",)
        needed += [
            Needed(schema, "tariff_plan", plans),
            Needed(schema, "account", READ_WRITE),
            Needed(schema, "meter", READ_WRITE),
            Needed(schema, "consumption_reading", (*READ_WRITE, "DELETE")),
            Needed(etl, "legacy_crosswalk", READ_WRITE),
        ]
    return needed


def grant_statements(job: JobConfig, role: str) -> list[sql.Composed]:
    """What an administrator runs to let `role` run the job: the list above as GRANTs."""
    who = sql.Identifier(role)
    schemas = sql.SQL(", ").join([sql.Identifier(job.target.schema_), sql.Identifier(job.target.etl_schema)])
    statements = [
        sql.SQL("GRANT TEMP ON DATABASE {} TO {}").format(sql.Identifier(_database(job)), who),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schemas, who),
    ]
    statements += [
        sql.SQL("GRANT {} ON {} TO {}").format(
            sql.SQL(", ").join(map(sql.SQL, need.privileges)), sql.Identifier(need.schema, need.table), who
        )
        for need in required_privileges(job)
    ]
    if job.accounts is not None and job.accounts.generate_prefix:
        statements.append(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schemas, who))
    return statements


def _database(job: JobConfig) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(job.target.url).get("dbname") or "<database>")


def missing_privileges(conn: psycopg.Connection, job: JobConfig) -> list[tuple[str, str]]:
    """(what is missing, the GRANT that gives it) for the current role; tables not created yet are skipped
    (the migrations say so)."""
    missing = []
    if not one_row(conn.execute("SELECT has_database_privilege(current_database(), 'TEMP')"))[0]:
        missing.append(("database: TEMP (staging tables)", "GRANT TEMP ON DATABASE <database> TO <role>"))
    for schema in dict.fromkeys((job.target.schema_, job.target.etl_schema)):
        exists = one_row(conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", [schema]))[0]
        if exists and not one_row(conn.execute("SELECT has_schema_privilege(%s, 'USAGE')", [schema]))[0]:
            missing.append((f"schema {schema}: USAGE", f"GRANT USAGE ON SCHEMA {schema} TO <role>"))
            return missing  # nothing in it can be looked at
    for need in required_privileges(job):
        regclass = sql.Identifier(need.schema, need.table).as_string(conn)
        if one_row(conn.execute("SELECT to_regclass(%s)", [regclass]))[0] is None:
            continue
        held = "SELECT has_table_privilege(%s, %s)"  # one at a time: a list is true if ANY is held
        lacking = [p for p in need.privileges if not one_row(conn.execute(held, [regclass, p]))[0]]
        if lacking:
            privileges = ", ".join(lacking)
            missing.append((f"{need.name}: {privileges}", f"GRANT {privileges} ON {need.name} TO <role>"))
    return missing

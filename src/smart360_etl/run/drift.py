"""Schema drift: compare the source's columns and the target's tables with what the mapping needs.

Runs before anything is written. The source is compared with the columns and types it had at the
job's last successful run (kept in the run ledger), so a column that is gone can be told apart from
one that was never there, and a column that appeared in its place can be suggested as the fix.
Breaking drift stops the run; harmless drift (a new unmapped column, a compatible retype) is a warning.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from .. import reasons
from ..config import FieldSpec, TargetConfig
from ..db import one_row
from ..errors import EtlError, job_file
from ..load.merging import Table
from ..mapping.fields import CONSUMER_FIELDS, OPTIONAL_FIELDS, column_key, wanted_columns
from ..result import DriftRow
from ..sources.postgres import type_family

# Fields SMART360 needs on every consumer; the load may leave every other field empty.
REQUIRED_FIELDS = reasons.REQUIRED_FIELDS
# Target columns the tool writes or reads besides the mapped fields.
BOOKKEEPING_COLUMNS = ("status", "created_at", "updated_at")


@dataclass(frozen=True)
class Drift:
    side: str  # source | target
    column: str
    change: str  # gone | renamed | retyped | added | removed | constraint
    breaking: bool
    message: str
    fix: str = ""
    affects: tuple[str, ...] = ()  # mapping entries, e.g. ("mapping.phone_number",)

    def to_json(self) -> DriftRow:
        return DriftRow(side=self.side, column=self.column, change=self.change, breaking=self.breaking,
                        message=self.message, fix=self.fix, affects=list(self.affects))


class SchemaDrift(EtlError):
    def __init__(self, drifts: list[Drift]) -> None:
        self.drifts = drifts
        lines = [f"  - {d.message}" + (f"; fix: {d.fix}" if d.fix else "") for d in drifts if d.breaking]
        super().__init__("schema drift breaks the mapping; nothing was written:\n" + "\n".join(lines))


def _accepts(transform: str, family: str) -> bool:
    """Which source types a transform reads without losing data (everything is read as text)."""
    if transform == "id":
        return family in ("text", "number", "uuid")
    return family == "text"


def source_drift(
    previous: dict[str, str] | None,
    current: dict[str, str],
    mapping: dict[str, FieldSpec | None],
    columns: dict[str, str] | None = None,
    type_family: Callable[[str], str] = type_family,
) -> list[Drift]:
    """Drift of the source against its last successful run; nothing to compare on a first run.
    `type_family` is the source kind's (sources.SOURCE_KINDS)."""
    if not previous:
        return []
    now_by_key = {column_key(c): c for c in current}
    before_by_key = {column_key(c): c for c in previous}
    appeared = [c for c in current if column_key(c) not in before_by_key]
    by_column: dict[str, list[tuple[str, str]]] = {}
    for field, (column, transform) in wanted_columns(mapping, list(previous), columns).items():
        by_column.setdefault(column_key(column), []).append((field, transform))
    drifts: list[Drift] = []
    for key, users in by_column.items():
        if key not in before_by_key:
            continue  # never there: resolving the mapping explains that (or the field is optional)
        name = before_by_key[key]
        if key not in now_by_key:
            drifts.append(_gone(name, users, appeared, current))
        elif previous[name] != current[now_by_key[key]]:
            drifts.append(_retyped(name, previous[name], current[now_by_key[key]], users, type_family))
    mapped = set(by_column)
    drifts += [
        Drift("source", c, "added", False, f"source column `{c}` is new and not mapped (harmless)")
        for c in appeared
        if column_key(c) not in mapped
    ]
    return drifts


def _gone(name: str, users: list[tuple[str, str]], appeared: list[str], current: dict[str, str]) -> Drift:
    affects = tuple(f"mapping.{field}" for field, _ in users)
    required = any(field not in OPTIONAL_FIELDS for field, _ in users)
    if not appeared:
        return Drift(
            "source",
            name,
            "gone",
            required,
            f"source column `{name}` is gone (used by {', '.join(affects)})",
            f"set {' and '.join(_fix(field, transform, '<column>') for field, transform in users)} "
            f"to a column that holds it; columns are: {', '.join(current)}",
            affects,
        )
    candidate = (difflib.get_close_matches(name, appeared, n=1, cutoff=0.0) or appeared)[0]
    return Drift(
        "source",
        name,
        "renamed",
        required,
        f"source column `{name}` is gone; a column `{candidate}` appeared (used by {', '.join(affects)})",
        "set " + " and ".join(_fix(field, transform, candidate) for field, transform in users),
        affects,
    )


def _fix(field: str, transform: str, column: str) -> str:
    if "." in transform and transform != "phone.extension":  # a part of a parsed column keeps its transform
        return f"`mapping.{field}: {{from: {column}, transform: {transform}}}`"
    return f"`mapping.{field}.from: {column}`"


def _retyped(
    name: str, before: str, now: str, users: list[tuple[str, str]], type_family: Callable[[str], str]
) -> Drift:
    affects = tuple(f"mapping.{field}" for field, _ in users)
    broken = [field for field, transform in users if not _accepts(transform, type_family(now))]
    if broken:
        return Drift(
            "source",
            name,
            "retyped",
            True,
            f"source column `{name}` changed type from {before} to {now}, which "
            f"{', '.join(f'mapping.{f}' for f in broken)} cannot read as text without loss",
            f"cast it back in `source.query` (e.g. `SELECT ..., {name}::text AS {name}`) or map another column",
            affects,
        )
    return Drift(
        "source",
        name,
        "retyped",
        False,
        f"source column `{name}` changed type from {before} to {now} (still readable)",
        affects=affects,
    )


def target_drift(conn: psycopg.Connection, target: TargetConfig, mapping: dict[str, FieldSpec | None]) -> list[Drift]:
    """The consumer table against what the load writes: columns, types, NOT NULL, the unique key."""
    regclass = target.table("consumer").as_string(conn)
    table = f"{target.schema_}.consumer"  # as people write it, in messages and fixes
    columns = _columns(conn, regclass)
    if not columns:
        return [
            Drift(
                "target",
                "consumer",
                "gone",
                True,
                f"target table {table} is missing",
                f"run `smart360-etl init -c {job_file()}`",
            )
        ]
    maybe_empty = set(CONSUMER_FIELDS) - set(REQUIRED_FIELDS) | {f for f, spec in mapping.items() if spec is None}
    drifts = []
    for field in CONSUMER_FIELDS:
        drifts += _target_column(table, field, columns.get(field), field in maybe_empty)
    drifts += [
        _extra_column(table, name, not_null and not has_default)
        for name, (_, not_null, has_default) in columns.items()
        if name not in CONSUMER_FIELDS and name not in BOOKKEEPING_COLUMNS
    ]
    if "consumer_id" in columns and not _unique_key(conn, regclass):
        drifts.append(
            Drift(
                "target",
                "consumer_id",
                "constraint",
                True,
                f"{table}.consumer_id is not unique any more (no primary key or unique index)",
                f"restore it: `ALTER TABLE {table} ADD PRIMARY KEY (consumer_id)`",
            )
        )
    return drifts


def entity_drift(conn: psycopg.Connection, target: TargetConfig, tables: tuple[Table, ...]) -> list[Drift]:
    """Jobs with accounts: each entity table against the columns its load writes (load/entities.py), and
    columns added since that inserts could not fill."""
    drifts = []
    for spec in tables:
        table = f"{target.schema_}.{spec.name}"
        columns = _columns(conn, target.table(spec.name).as_string(conn))
        if not columns:
            drifts.append(Drift("target", spec.name, "gone", True, f"target table {table} is missing",
                                f"run `smart360-etl init -c {job_file()}`"))
            continue
        written = set(spec.columns) | ({"updated_at"} if spec.stamped else set())
        for name in sorted(written - set(columns)):
            drifts.append(Drift("target", name, "gone", True, f"target column {table}.{name} is gone",
                                f"restore it (see the migrations: `smart360-etl init -c {job_file()}` lists them)"))
        drifts += [
            _extra_column(table, name, not_null and not has_default)
            for name, (_, not_null, has_default) in columns.items()
            if name not in written and (not_null and not has_default)
        ]
    return drifts


def _columns(conn: psycopg.Connection, regclass: str) -> dict[str, tuple[str, bool, bool]]:
    """name -> (type, NOT NULL, has a default), of a table (empty when it does not exist)."""
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull, atthasdef FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        [regclass],
    ).fetchall()
    return {name: (pg_type, not_null, has_default) for name, pg_type, not_null, has_default in rows}


def _target_column(table: str, field: str, found: tuple | None, maybe_empty: bool) -> list[Drift]:
    entry = (f"mapping.{field}",)
    if found is None:
        return [
            Drift(
                "target",
                field,
                "gone",
                True,
                f"target column {table}.{field} is gone",
                f"restore it: `ALTER TABLE {table} ADD COLUMN {field} text`",
                entry,
            )
        ]
    pg_type, not_null, _ = found
    drifts = []
    if type_family(pg_type) != "text":
        drifts.append(
            Drift(
                "target",
                field,
                "retyped",
                True,
                f"target column {table}.{field} is {pg_type}, not text",
                f"`ALTER TABLE {table} ALTER COLUMN {field} TYPE text`",
                entry,
            )
        )
    if not_null and maybe_empty:
        drifts.append(
            Drift(
                "target",
                field,
                "constraint",
                True,
                f"target column {table}.{field} became NOT NULL, but the mapping can leave it empty",
                f"drop the constraint, or give `mapping.{field}.default`",
                entry,
            )
        )
    return drifts


def _extra_column(table: str, name: str, needs_value: bool) -> Drift:
    if needs_value:
        return Drift(
            "target",
            name,
            "added",
            True,
            f"target column {table}.{name} is new, NOT NULL and has no default: inserts would fail",
            f"give it a default (`ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT ...`)",
        )
    return Drift("target", name, "added", False, f"target column {table}.{name} is new; the load leaves it empty")


def _unique_key(conn: psycopg.Connection, table: str) -> bool:
    return one_row(conn.execute(
        "SELECT EXISTS (SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indnkeyatts = 1 "
        "AND i.indpred IS NULL AND a.attname = 'consumer_id')",
        [table],
    ))[0]

"""One set-based upsert for every table the load writes: UPDATE the rows whose values differ, INSERT the
new ones. Joins, not ON CONFLICT's row-by-row speculative inserts."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql


@dataclass
class Table:
    name: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    types: dict[str, str] = field(default_factory=dict)  # staging column types other than text
    stamped: bool = True  # has updated_at, set when a row changes
    same_row: tuple[str, ...] = ()  # columns telling staged rows apart, when not the keys
    bookkeeping: tuple[str, ...] = ()  # values written along with a change, but never a change themselves

    @property
    def identity(self) -> list[str]:
        return list(self.same_row or self.keys)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys + self.values


def merge(
    conn: psycopg.Connection,
    target: sql.Identifier,
    table: Table,
    source: sql.Composable,
    written: sql.Identifier | None = None,
) -> tuple[int, int]:
    """UPDATE the rows of `target` whose values differ from `source`'s, INSERT the new ones; (inserted, updated).

    `written`: a table with the key columns, where the keys of every row inserted or updated are added
    (the rows the run's checks are scoped to)."""
    keys = [sql.Identifier(c) for c in table.keys]
    values = [sql.Identifier(c) for c in table.values]
    compared = [sql.Identifier(c) for c in table.values if c not in table.bookkeeping]
    matches = sql.SQL(" AND ").join(sql.SQL("t.{c} = s.{c}").format(c=c) for c in keys)
    sets = [sql.SQL("{c} = s.{c}").format(c=c) for c in values] + (
        [sql.SQL("updated_at = now()")] if table.stamped else []
    )
    with conn.cursor() as cursor:
        cursor.execute(
            _recorded(
                written,
                keys,
                sql.SQL(
                    "UPDATE {target} AS t SET {sets} FROM ({source}) AS s "
                    "WHERE {matches} AND ({old}) IS DISTINCT FROM ({new})"
                ).format(
                    target=target,
                    sets=sql.SQL(", ").join(sets),
                    source=_relation(source),
                    matches=matches,
                    old=sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in compared),
                    new=sql.SQL(", ").join(sql.SQL("s.{}").format(c) for c in compared),
                ),
            )
        )
        updated = cursor.rowcount
        columns = sql.SQL(", ").join(keys + values)
        cursor.execute(
            _recorded(
                written,
                keys,
                sql.SQL(
                    "INSERT INTO {target} AS t ({columns}) SELECT {columns} FROM ({source}) AS s "
                    "WHERE NOT EXISTS (SELECT FROM {target} AS t WHERE {matches})"
                ).format(target=target, columns=columns, source=_relation(source), matches=matches),
            )
        )
        return cursor.rowcount, updated


def _recorded(written: sql.Identifier | None, keys: list[sql.Identifier], change: sql.Composed) -> sql.Composed:
    """`change`, and with `written` the keys it touched added there (the row count stays the change's)."""
    if written is None:
        return change
    returned = sql.SQL(", ").join(sql.SQL("t.{}").format(k) for k in keys)
    return sql.SQL(
        "WITH changed AS ({change} RETURNING {returned}) INSERT INTO {written} SELECT * FROM changed"
    ).format(change=change, returned=returned, written=written)


def _relation(source: sql.Composable) -> sql.Composable:
    return sql.SQL("SELECT * FROM {}").format(source) if isinstance(source, sql.Identifier) else source

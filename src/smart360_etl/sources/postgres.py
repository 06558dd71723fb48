"""A PostgreSQL table or query as a source, streamed with COPY ... TO STDOUT: no row held twice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
import psycopg
from psycopg import sql

from ..db import connect, nul_chunks, nul_joined, one_row
from ..errors import SourceError
from ..urls import redact_url
from .chunks import frames_from_csv_bytes

# Types a change column may have, and the cast its stored watermark text gets back.
_CASTS = {
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "date": "date",
    "int2": "numeric",
    "int4": "numeric",
    "int8": "numeric",
    "numeric": "numeric",
}


_PROBE = b"smart360_etl_source_query"


def _one_select(conn: psycopg.Connection, query: sql.Composable) -> None:
    """`source.query` must be one statement that returns rows: the server prepares it (the extended
    protocol refuses several statements, and preparing executes nothing) before it is ever run."""
    text = query.as_bytes(conn)
    prepared = conn.pgconn.prepare(_PROBE, text)
    try:
        if prepared.status != psycopg.pq.ExecStatus.COMMAND_OK:
            cause = prepared.error_message.decode(errors="replace").strip().splitlines()[0]
            raise SourceError(
                f"`source.query` must be a single SELECT: {cause}; write one statement, without `;` between "
                "statements (the source is only ever read)"
            )
        if conn.pgconn.describe_prepared(_PROBE).nfields == 0:
            raise SourceError("`source.query` must be a SELECT that returns the source's rows")
    finally:
        conn.pgconn.exec_(b"DEALLOCATE " + _PROBE)


class PostgresSource:
    def __init__(
        self, url: str, table: str | None, query: str | None, limit: int | None = None, connect_retries: int = 3
    ) -> None:
        self.url, self.table, self.query, self.limit = url, table, query, limit
        self.connect_retries = connect_retries
        self._snapshot: psycopg.Connection | None = None
        self._window: sql.Composable | None = None  # incremental runs: a filter on the change column

    def __enter__(self) -> PostgresSource:
        # One read-only REPEATABLE READ transaction: every read of the run sees the same rows.
        self._snapshot = self._connect()
        self._snapshot.read_only = True
        self._snapshot.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        # A table is read from its first block, whatever other sessions scan at the time: the same
        # snapshot gives the rows in the same order, so a reject's row number means the same row each run.
        self._snapshot.execute("SET synchronize_seqscans = off")
        if self.query is not None:
            try:
                _one_select(self._snapshot, self._base())
            except SourceError:
                self.__exit__()
                raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None

    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection]:
        if self._snapshot is not None:
            yield self._snapshot
        else:
            with self._connect() as conn:
                yield conn

    def describe(self) -> str:
        return f"PostgreSQL {redact_url(self.url)} ({self.table or 'query'})"

    def _base(self) -> sql.Composable:
        if self.table is not None:
            return sql.SQL("SELECT * FROM {}").format(sql.Identifier(*self.table.split(".", 1)))
        return sql.SQL((self.query or "").strip().rstrip(";"))

    def _relation(self) -> sql.Composable:
        body = self._base()
        if self._window is not None:
            body = sql.SQL("SELECT * FROM ({}) AS w WHERE {}").format(body, self._window)
        if self.limit is not None:
            return sql.SQL("SELECT * FROM ({}) AS q LIMIT {}").format(body, sql.Literal(self.limit))
        return body

    def _connect(self) -> psycopg.Connection:
        conn = connect(self.url, self.connect_retries, "the source", "source.url", SourceError)
        conn.read_only = True  # the source is only ever read
        return conn

    def columns(self) -> list[str]:
        return list(self.schema())

    def schema(self) -> dict[str, str]:
        """Column name -> PostgreSQL type, in the source's order."""
        with self._session() as conn:
            try:
                cursor = conn.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(self._relation()))
            except psycopg.Error as exc:
                raise SourceError(f"cannot read {self.describe()}: {exc}".strip()) from None
            return {column.name: column.type_display for column in cursor.description or []}

    def restrict(self, column: str, after: str, overlap_s: float, until: str | None = None) -> None:
        """Read only rows whose `column` is past `after` minus the overlap (and up to `until`, when given).

        Rows where it is null are read too: a row without a change stamp is re-read every run rather
        than never.
        """
        cast = _CASTS.get(self.schema().get(column, "").split("(")[0])
        if cast is None:
            raise SourceError(
                f"`source.incremental.column` {column} must be a timestamp, date or number column of the source"
            )
        stamp, lower = sql.Identifier(column), sql.SQL("{}::{}").format(sql.Literal(after), sql.SQL(cast))
        if overlap_s:
            lower = sql.SQL("({} - make_interval(secs => {}))").format(lower, sql.Literal(overlap_s))
        window = sql.SQL("w.{} > {}").format(stamp, lower)
        if until is not None:
            upper = sql.SQL("{}::{}").format(sql.Literal(until), sql.SQL(cast))
            window = sql.SQL("{} AND w.{} <= {}").format(window, stamp, upper)
        self._window = sql.SQL("w.{} IS NULL OR ({})").format(stamp, window)

    def max_value(self, column: str) -> str | None:
        """The largest value of `column` in the whole source (same snapshot), as text."""
        query = sql.SQL("SELECT max({})::text FROM ({}) AS q").format(sql.Identifier(column), self._base())
        with self._session() as conn:
            return one_row(conn.execute(query))[0]

    def column_text(self, column: str, batch_size: int, whole: bool = False) -> Iterator[pl.Series]:
        """Every non-null value of `column` as text (what COPY writes), sent in one piece (db.nul_joined),
        `batch_size` values at a time."""
        relation = self._base() if whole else self._relation()
        c = sql.Identifier(column)
        query = sql.SQL("SELECT {} FROM ({}) AS q").format(nul_joined(sql.SQL("{}::text").format(c)), relation)
        with self._session() as conn:
            try:
                blob = one_row(conn.execute(query, binary=True))[0]
            except psycopg.Error as exc:
                raise SourceError(f"reading {self.describe()} failed: {exc}".strip()) from None
        yield from nul_chunks(blob, column, batch_size)

    def batches(self, batch_size: int, columns: list[str] | None = None, whole: bool = False) -> Iterator[pl.DataFrame]:
        """The rows (of `columns`), batch by batch; `whole` ignores an incremental restriction."""
        relation = self._base() if whole else self._relation()
        if columns:
            picked = sql.SQL(", ").join(map(sql.Identifier, columns))
            relation = sql.SQL("SELECT {} FROM ({}) AS q").format(picked, relation)
        copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER true)").format(relation)
        with self._session() as conn, conn.cursor() as cursor:
            try:
                with cursor.copy(copy_out) as copy:
                    yield from frames_from_csv_bytes(
                        (bytes(b) for b in copy), batch_size, ",", self.describe(), well_formed=True
                    )
            except psycopg.Error as exc:
                raise SourceError(f"reading {self.describe()} failed: {exc}".strip()) from None


def type_family(pg_type: str) -> str:
    """A PostgreSQL type name's family for drift detection: text, number, temporal, array, or the name."""
    name = pg_type.lower()
    if name.endswith("[]"):
        return "array"
    if re.match(r"(text|character|varchar|bpchar|char|citext|name|\"char\")", name):
        return "text"
    if re.match(r"(smallint|integer|bigint|int|numeric|decimal|real|double|float)", name):
        return "number"
    if re.match(r"(date|time)", name):
        return "temporal"
    return name.split("(")[0]

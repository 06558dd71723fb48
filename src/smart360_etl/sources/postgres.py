"""A PostgreSQL table or query as a source, streamed with COPY ... TO STDOUT: no row held twice."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import psycopg
from psycopg import sql

from ..config import redact_url
from ..errors import SourceError
from .chunks import frames_from_csv_bytes


class PostgresSource:
    def __init__(self, url: str, table: str | None, query: str | None, limit: int | None = None) -> None:
        self.url, self.table, self.query, self.limit = url, table, query, limit

    def describe(self) -> str:
        return f"PostgreSQL {redact_url(self.url)} ({self.table or 'query'})"

    def _relation(self) -> sql.Composable:
        if self.table is not None:
            body = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*self.table.split(".", 1)))
        else:
            body = sql.SQL(self.query.strip().rstrip(";"))
        if self.limit is not None:
            return sql.SQL("SELECT * FROM ({}) AS q LIMIT {}").format(body, sql.Literal(self.limit))
        return body

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=False)
        except psycopg.OperationalError as exc:
            raise SourceError(f"cannot connect to the source {self.describe()}: {exc}".strip()) from None

    def columns(self) -> list[str]:
        with self._connect() as conn:
            try:
                cursor = conn.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(self._relation()))
            except psycopg.Error as exc:
                raise SourceError(f"cannot read {self.describe()}: {exc}".strip()) from None
            return [column.name for column in cursor.description]

    def total_rows(self) -> int | None:
        with self._connect() as conn:
            return conn.execute(sql.SQL("SELECT count(*) FROM ({}) AS q").format(self._relation())).fetchone()[0]

    def batches(self, batch_size: int) -> Iterator[pl.DataFrame]:
        copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER true)").format(self._relation())
        with self._connect() as conn, conn.cursor() as cursor:
            conn.read_only = True
            try:
                with cursor.copy(copy_out) as copy:
                    yield from frames_from_csv_bytes((bytes(b) for b in copy), batch_size, ",", self.describe())
            except psycopg.Error as exc:
                raise SourceError(f"reading {self.describe()} failed: {exc}".strip()) from None

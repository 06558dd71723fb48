"""Sources: each yields the consumer records as polars frames of text columns, batch by batch.

A source kind is one entry of SOURCE_KINDS: how to open it from the job's `source:` section, and how its
type names fall into the families drift detection compares (text, number, temporal, ...). A new kind adds a
module here, its entry, and its keys in `config.SourceConfig`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from ..config import SourceConfig


class Source(Protocol):
    """Used as a context manager: every read inside one `with` sees the same data (one snapshot).

    A source may also have `column_text(column, whole) -> pl.Series`: one column's non-null values as
    text, faster than `batches` (the narrow id passes use it where it exists: PostgresSource)."""

    def __enter__(self) -> Source: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def columns(self) -> list[str]: ...
    def schema(self) -> dict[str, str]: ...
    def batches(
        self, batch_size: int, columns: list[str] | None = None, whole: bool = False
    ) -> Iterator[pl.DataFrame]: ...
    def describe(self) -> str: ...
    def max_value(self, column: str) -> str | None: ...  # incremental column mode
    def restrict(self, column: str, after: str, overlap_s: float, until: str | None = None) -> None: ...


@dataclass(frozen=True)
class SourceKind:
    name: str
    opens: Callable[[SourceConfig, int | None], Source]  # (the `source:` section, a row limit) -> a source
    type_family: Callable[[str], str]  # a column's type name -> its family, for drift


def _postgres(config: SourceConfig, limit: int | None) -> Source:
    from .postgres import PostgresSource

    assert config.url is not None  # SourceConfig holds exactly one kind
    return PostgresSource(config.url, config.table, config.query, limit, config.connect_retries)


def _csv(config: SourceConfig, limit: int | None) -> Source:
    from .csv_file import CsvSource

    assert config.csv is not None
    return CsvSource(config.csv, config.delimiter, config.encoding, limit)


def _database(config: SourceConfig, limit: int | None) -> Source:
    from .database import DatabaseSource

    assert config.url is not None
    return DatabaseSource(config.url, config.kind, config.table, config.query, limit, config.connect_retries)


def _file(config: SourceConfig, limit: int | None) -> Source:
    from .files import open_file

    assert config.file is not None
    source: Source = open_file(config.file, config.sheet, config.delimiter, config.encoding, limit)
    return source


def _postgres_family(type_name: str) -> str:
    from .postgres import type_family

    return type_family(type_name)


def _database_family(type_name: str) -> str:
    from .database import type_family

    return type_family(type_name)


SOURCE_KINDS = {
    "postgres": SourceKind("postgres", _postgres, _postgres_family),
    "csv": SourceKind("csv", _csv, lambda type_name: "text"),
    "file": SourceKind("file", _file, lambda type_name: "text"),
    **{engine: SourceKind(engine, _database, _database_family) for engine in ("mysql", "sqlite", "mssql", "oracle")},
}


def source_kind(config: SourceConfig) -> SourceKind:
    return SOURCE_KINDS[config.kind]


def open_source(config: SourceConfig, limit: int | None = None) -> Source:
    """The source a job's `source:` section names; `limit` reads only the first rows (preview)."""
    return source_kind(config).opens(config, limit)

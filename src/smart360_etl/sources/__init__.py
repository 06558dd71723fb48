"""Sources: each yields the consumer records as polars frames of text columns, batch by batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import polars as pl

from ..config import SourceConfig


class Source(Protocol):
    """Used as a context manager: every read inside one `with` sees the same data (one snapshot)."""

    def __enter__(self) -> Source: ...
    def __exit__(self, *exc_info) -> None: ...
    def columns(self) -> list[str]: ...
    def schema(self) -> dict[str, str]: ...
    def batches(
        self, batch_size: int, columns: list[str] | None = None, whole: bool = False
    ) -> Iterator[pl.DataFrame]: ...
    def describe(self) -> str: ...


def open_source(config: SourceConfig, limit: int | None = None) -> Source:
    """The source a job's `source:` section names; `limit` reads only the first rows (preview)."""
    if config.csv is not None:
        from .csv_file import CsvSource

        return CsvSource(config.csv, config.delimiter, config.encoding, limit)
    from .postgres import PostgresSource

    return PostgresSource(config.url, config.table, config.query, limit, config.connect_retries)

"""Sources: each yields the consumer records as polars frames of text columns, batch by batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import polars as pl

from ..config import SourceConfig


class Source(Protocol):
    def columns(self) -> list[str]: ...
    def total_rows(self) -> int | None: ...
    def batches(self, batch_size: int) -> Iterator[pl.DataFrame]: ...
    def describe(self) -> str: ...


def open_source(config: SourceConfig, limit: int | None = None) -> Source:
    """The source a job's `source:` section names; `limit` reads only the first rows (preview)."""
    if config.csv is not None:
        from .csv_file import CsvSource

        return CsvSource(config.csv, config.delimiter, config.encoding, limit)
    from .postgres import PostgresSource

    return PostgresSource(config.url, config.table, config.query, limit)

"""The reads as they are in the source, batch by batch: each frame has the canonical column names
(meter, start, value and those of `intervals.columns` that are given), plus `source` (file or table) and
`line` (the row's number there, from 1), so that a reject can be found again in the source."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ..config import SourceConfig
from ..config.intervals import IntervalsConfig
from ..errors import SourceError
from ..sources import open_source
from ..sources.files import file_kind

PARTS = ("meter", "start", "value", "seconds", "end", "channel", "unit", "quality", "multiplier")
_KIND_KEY = {"csv": "csv", "parquet": "parquet", "xlsx": None}


def source_files(intervals: IntervalsConfig) -> list[Path]:
    """The files the source's glob names, sorted; a glob that names none is an error."""
    kind = intervals.source.kind
    pattern = str(getattr(intervals.source, kind))
    paths = sorted(Path(p) for p in glob.glob(pattern)) if glob.has_magic(pattern) else [Path(pattern)]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        raise SourceError(f"no file matches `intervals.source.{kind}` ({pattern}); check the path")
    return paths


def read_frames(intervals: IntervalsConfig, path: Path | None = None) -> Iterator[pl.DataFrame]:
    """All reads of the source (or of one of its files), with `source` and `line`."""
    kind = intervals.source.kind
    if kind == "table":
        yield from _table(intervals)
        return
    for file in [path] if path is not None else source_files(intervals):
        _check_kind(file, kind)
        line = 0
        for frame in _file_frames(intervals, file, kind):
            yield frame.with_columns(
                pl.lit(file.name).alias("source"), pl.int_range(line + 1, line + 1 + frame.height).alias("line")
            )
            line += frame.height


def _check_kind(path: Path, declared: str) -> None:
    if declared == "green_button":
        with path.open("rb") as handle:
            start = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not start.startswith(b"<"):
            raise SourceError(f"{path} is not XML, so not Green Button data; check `intervals.source.green_button`")
        return
    actual = file_kind(path)
    if actual != declared:
        key = _KIND_KEY.get(actual)
        fix = f"list it under `intervals.source.{key}`" if key else "export the reads as CSV or Parquet"
        raise SourceError(f"{path} is a {actual} file, not {declared}: {fix}")


def _file_frames(intervals: IntervalsConfig, path: Path, kind: str) -> Iterator[pl.DataFrame]:
    if kind == "green_button":
        from .espi import read_green_button

        yield from read_green_button(path, intervals.batch_size)
        return
    if kind == "parquet":
        columns = _columns(intervals, list(pl.read_parquet_schema(path)), str(path))
        lazy = pl.scan_parquet(path).select([pl.col(c).alias(p) for p, c in columns.items()])
        start = 0
        while (batch := lazy.slice(start, intervals.batch_size).collect()).height:
            yield batch
            start += batch.height
        return
    source = SourceConfig(csv=path, delimiter=intervals.source.delimiter, encoding=intervals.source.encoding)
    yield from _renamed(intervals, source, str(path))


def _table(intervals: IntervalsConfig) -> Iterator[pl.DataFrame]:
    source = SourceConfig(url=intervals.source.url, table=intervals.source.table)
    line = 0
    for frame in _renamed(intervals, source, str(intervals.source.table)):
        yield frame.with_columns(
            pl.lit(str(intervals.source.table)).alias("source"),
            pl.int_range(line + 1, line + 1 + frame.height).alias("line"),
        )
        line += frame.height


def _renamed(intervals: IntervalsConfig, config: SourceConfig, name: str) -> Iterator[pl.DataFrame]:
    with open_source(config) as source:
        columns = _columns(intervals, source.columns(), name)
        for frame in source.batches(intervals.batch_size, list(columns.values()), whole=True):
            yield frame.select([pl.col(c).alias(p) for p, c in columns.items()])


def _columns(intervals: IntervalsConfig, present: list[str], name: str) -> dict[str, str]:
    """Part -> the source's column for it, matched exactly, else ignoring case and surrounding spaces."""
    folded = {c.strip().casefold(): c for c in present}
    found = {}
    for part in PARTS:
        wanted = getattr(intervals.columns, part)
        if wanted is None:
            continue
        column = wanted if wanted in present else folded.get(wanted.strip().casefold())
        if column is None:
            raise SourceError(
                f"{name} has no column `{wanted}` (`intervals.columns.{part}`); its columns: {', '.join(present)}"
            )
        found[part] = column
    return found

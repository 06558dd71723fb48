"""Tables as files a business user opens: CSV or an Excel workbook (.xlsx), chosen by the file's name.

Every value is written as text: in a workbook each cell is a text cell, so a value that starts with `=`
stays text (never a formula) and ids and phone numbers keep their leading zeros. Reading back goes through
the file sources (sources/files.py), so a cell the user retyped as a number or a date comes out as the
text it shows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ConfigError

WORKBOOK = (".xlsx",)


def is_workbook(path: Path) -> bool:
    return path.suffix.lower() in WORKBOOK


@contextmanager
def table_writer(path: Path, header: list[str], sheet: str = "rows") -> Iterator[Any]:
    """A `write(row)` for `path`: CSV, or a workbook when the name ends in .xlsx."""
    if path.suffix.lower() in (".xls", ".ods"):
        raise ConfigError(f"{path.name}: write .xlsx (or .csv); {path.suffix} cannot be written")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_workbook(path):
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            yield lambda row: writer.writerow(["" if v is None else v for v in row])
        return
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    page = book.create_sheet(sheet)

    def text_cells(row: Iterable[object]) -> list[WriteOnlyCell]:
        cells = []
        for value in row:
            cell = WriteOnlyCell(page, value=None if value is None else str(value))
            cell.data_type = "s"  # text, even when it starts with `=`
            cells.append(cell)
        return cells

    page.append(text_cells(header))
    yield lambda row: page.append(text_cells(row))
    book.save(path)


def read_table(path: Path) -> pl.DataFrame:
    """The file's rows as text columns, read as a `source: {file: ...}` is (CSV, a workbook's first sheet
    or Parquet, told apart by content; a workbook's cells as the sheet shows them)."""
    from ..sources.files import open_file

    with open_file(path, None, ",", "utf-8", None) as source:
        frames = list(source.batches(50_000))
        header = source.columns()
    return pl.concat(frames) if frames else pl.DataFrame(schema=dict.fromkeys(header, pl.String))

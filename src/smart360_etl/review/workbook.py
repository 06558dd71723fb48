"""Tables as files a business user opens: CSV or an Excel workbook (.xlsx), chosen by the file's name.

Every value is written and read as text. In a workbook each cell is a text cell, so a value that starts
with `=` stays text (never a formula) and ids and phone numbers keep their leading zeros; a cell the user
retyped as a number or a date is read back as the text it shows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ConfigError, SourceError

WORKBOOK = (".xlsx",)
_XLSX_MAGIC = b"PK\x03\x04"


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
    """The file's rows as text columns (header from the first row): CSV, or the first sheet of a workbook."""
    if not path.is_file():
        raise SourceError(f"{path} not found")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == _XLSX_MAGIC:
        return _read_workbook(path)
    if is_workbook(path):
        raise SourceError(f"{path.name} is named .xlsx but is not an Excel workbook; save it as .xlsx or .csv")
    try:
        return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise SourceError(f"{path.name} cannot be read as CSV: {str(exc).splitlines()[0]}") from None


def _read_workbook(path: Path) -> pl.DataFrame:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or encrypted file: openpyxl's own error types vary
        raise SourceError(f"{path.name} cannot be opened as a workbook: {exc}") from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if not header or all(v is None for v in header):
            raise SourceError(f"{path.name}: the first sheet has no header row")
        names = [_text(v) or f"column_{i + 1}" for i, v in enumerate(header)]
        data = [[_text(v) for v in row] for row in rows if any(v is not None for v in row)]
    finally:
        book.close()
    width = len(names)
    columns = {name: [row[i] if i < len(row) else None for row in data] for i, name in enumerate(names[:width])}
    return pl.DataFrame(columns, schema={name: pl.String for name in names})


def _text(value: object) -> str | None:
    """A cell as the text it shows: 12 not 12.0, dates as ISO dates."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)

"""`source: {file: PATH}`: a CSV file, an Excel workbook (.xlsx) or a Parquet file, told apart by the bytes
the file starts with, not by its name: an Excel file named .csv is read as Excel.

A workbook is streamed row by row (openpyxl's read-only mode): each cell comes out as the text the sheet
shows, a number in its number format (00123 stays 00123, 5125550100 stays that) and a date as an ISO date.
A Parquet file is read one row group at a time (polars), every column as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import SourceError

_ZIP, _OLE, _PARQUET = b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"PAR1"


def file_kind(path: Path) -> str:
    """csv, xlsx or parquet, from the file's first bytes; other spreadsheets are refused with the fix."""
    if not path.is_file():
        raise SourceError(f"file {path} not found; check `source.file` in the job file")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == _PARQUET:
        return "parquet"
    if head == _OLE:
        raise SourceError(f"{path.name} is an Excel 97-2003 workbook (.xls): save it as .xlsx and give that")
    if head == _ZIP:
        import zipfile

        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "content.xml" in names:
            raise SourceError(f"{path.name} is an OpenDocument spreadsheet (.ods): save it as .xlsx and give that")
        raise SourceError(f"{path.name} is a zip archive, not a workbook: unpack it and give the file inside")
    return "csv"


def open_file(path: Path, sheet: str | int | None, delimiter: str, encoding: str, limit: int | None) -> Any:
    kind = file_kind(path)
    if kind == "xlsx":
        return WorkbookSource(path, sheet, limit)
    if sheet is not None:
        raise SourceError(f"`source.sheet` is for a workbook; {path.name} is {kind}")
    if kind == "parquet":
        return ParquetSource(path, limit)
    from .csv_file import CsvSource

    return CsvSource(path, delimiter, encoding, limit)


class _FileSource:
    """What every file source shares: no change column (compare mode only), all columns text."""

    path: Path

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def columns(self) -> list[str]:
        raise NotImplementedError

    def schema(self) -> dict[str, str]:
        return dict.fromkeys(self.columns(), "text")

    def max_value(self, column: str) -> str | None:
        raise SourceError("a file has no change column to follow: use `incremental: {mode: compare}`")

    def restrict(self, column: str, after: str, overlap_s: float, until: str | None = None) -> None:
        raise SourceError("a file has no change column to follow: use `incremental: {mode: compare}`")


class ParquetSource(_FileSource):
    def __init__(self, path: Path, limit: int | None = None) -> None:
        self.path, self.limit = path, limit
        try:
            self._schema = pl.read_parquet_schema(path)
        except Exception as exc:  # polars raises several kinds for a damaged file
            raise SourceError(f"{path.name} cannot be read as Parquet: {str(exc).splitlines()[0]}") from None

    def describe(self) -> str:
        return f"Parquet file {self.path}"

    def columns(self) -> list[str]:
        return list(self._schema)

    def schema(self) -> dict[str, str]:
        return {name: str(dtype) for name, dtype in self._schema.items()}

    def batches(self, batch_size: int, columns: list[str] | None = None, whole: bool = False) -> Iterator[pl.DataFrame]:
        frame = pl.scan_parquet(self.path).select(columns or self.columns())
        if self.limit is not None:
            frame = frame.head(self.limit)
        as_text = frame.select(pl.all().cast(pl.String))
        start = 0
        while True:
            batch = as_text.slice(start, batch_size).collect()
            if batch.height:
                yield batch
            if batch.height < batch_size:
                return
            start += batch_size


class WorkbookSource(_FileSource):
    def __init__(self, path: Path, sheet: str | int | None = None, limit: int | None = None) -> None:
        self.path, self.sheet, self.limit = path, sheet, limit
        self._header = self._read_header()

    def describe(self) -> str:
        return f"Excel workbook {self.path}" + (f" (sheet {self.sheet})" if self.sheet is not None else "")

    def _open(self) -> tuple[Any, Any]:
        from openpyxl import load_workbook

        handle = open(self.path, "rb")  # a file object: openpyxl would refuse the name of a workbook named .csv
        try:
            book = load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # damaged, encrypted: openpyxl's error types vary
            handle.close()
            raise SourceError(f"{self.path.name} cannot be opened as a workbook: {exc}") from None
        book._smart360_handle = handle  # closed with the book (read-only books read the file lazily)
        names = book.sheetnames
        if self.sheet is None:
            return book, book.worksheets[0]
        if isinstance(self.sheet, int):
            if not 0 <= self.sheet < len(names):
                _close(book)
                raise SourceError(f"{self.path.name} has {len(names)} sheet(s); `source.sheet` {self.sheet} is "
                                  f"not one (0 is the first): sheets are {', '.join(names)}")
            return book, book.worksheets[self.sheet]
        if self.sheet not in names:
            _close(book)
            raise SourceError(f"{self.path.name} has no sheet {self.sheet!r}; sheets are {', '.join(names)}")
        return book, book[self.sheet]

    def _read_header(self) -> list[str]:
        book, page = self._open()
        try:
            first = next(page.iter_rows(max_row=1), None)
            header = [_cell_text(cell) for cell in first] if first else []
        finally:
            _close(book)
        while header and header[-1] is None:
            header.pop()
        if not header:
            raise SourceError(f"{self.describe()} is empty: its first row must name the columns")
        blank = [i + 1 for i, name in enumerate(header) if name is None]
        if blank:
            raise SourceError(f"{self.describe()}: header cells {blank} are empty (merged header cells?); give "
                              "every column its own name in the first row")
        repeated = sorted({n for n in header if header.count(n) > 1 and n is not None})
        if repeated:
            raise SourceError(f"{self.describe()}: the header names {repeated} more than once")
        return [str(name) for name in header]

    def columns(self) -> list[str]:
        return list(self._header)

    def batches(self, batch_size: int, columns: list[str] | None = None, whole: bool = False) -> Iterator[pl.DataFrame]:
        wanted = [self._header.index(c) for c in columns] if columns else list(range(len(self._header)))
        names = [self._header[i] for i in wanted]
        book, page = self._open()
        try:
            rows: list[list[str | None]] = []
            seen = 0
            for cells in page.iter_rows(min_row=2):
                values = [_cell_text(cells[i]) if i < len(cells) else None for i in wanted]
                if all(v is None for v in values) and all(_cell_text(c) is None for c in cells):
                    continue  # an empty row (formatting left behind), not a record
                rows.append(values)
                seen += 1
                if len(rows) == batch_size:
                    yield _frame(names, rows)
                    rows = []
                if self.limit is not None and seen >= self.limit:
                    break
            if rows:
                yield _frame(names, rows)
        finally:
            _close(book)


def _frame(names: list[str], rows: list[list[str | None]]) -> pl.DataFrame:
    return pl.DataFrame({name: [row[i] for row in rows] for i, name in enumerate(names)},
                        schema=dict.fromkeys(names, pl.String))


def _cell_text(cell: Any) -> str | None:
    """The text a cell shows: a number in its number format's digits, a date as an ISO date."""
    value = getattr(cell, "value", None)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return _number(value, getattr(cell, "number_format", "General") or "General")
    return str(value)


def _number(value: float, number_format: str) -> str:
    """`00123` for 123 formatted `00000`; 12 not 12.0; otherwise Python's shortest form."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    pattern = number_format.split(";")[0]
    if isinstance(value, int) and pattern and set(pattern) == {"0"}:
        return f"{value:0{len(pattern)}d}"
    return str(value)


def _close(book: Any) -> None:
    book.close()
    handle = getattr(book, "_smart360_handle", None)
    if handle is not None:
        handle.close()

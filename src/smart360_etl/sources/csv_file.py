"""A CSV export as a source, read in bounded chunks; any encoding Python knows."""

from __future__ import annotations

import codecs
import logging
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ..errors import SourceError
from .chunks import READ_BYTES, frames_from_csv_bytes, read_header

log = logging.getLogger("smart360_etl")


# What a spreadsheet or archive begins with: a CSV file never does.
_NOT_CSV = {
    b"PK\x03\x04": "a zip archive: an Excel workbook (.xlsx) or an OpenDocument sheet (.ods)",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an Excel 97-2003 workbook (.xls)",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "a gzip-compressed file",
}


def _refuse_binary(path: Path) -> None:
    with path.open("rb") as file:
        start = file.read(8)
    for magic, kind in _NOT_CSV.items():
        if start.startswith(magic):
            raise SourceError(
                f"{path} is {kind}, not a CSV file; give it as `source.file` (CSV, Excel .xlsx and Parquet are "
                "told apart by content), or export it as CSV (in Excel: File > Save As > CSV UTF-8)"
            )


# The job file refuses column mode for a CSV source; this is what a caller that bypasses it is told.
_NO_CHANGE_COLUMN = "a CSV file has no change column to follow: use `incremental: {mode: compare}`"


class CsvSource:
    def __init__(self, path: Path, delimiter: str = ",", encoding: str = "utf-8", limit: int | None = None) -> None:
        if not path.is_file():
            raise SourceError(f"CSV file {path} not found; check `source.csv` in the job file")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise SourceError(
                f"unknown encoding `{encoding}` in `source.encoding`; try utf-8, latin-1 or cp1252"
            ) from None
        _refuse_binary(path)
        self.path, self.delimiter, self.encoding, self.limit = path, delimiter, encoding, limit
        self._nul_reported = False

    def __enter__(self) -> CsvSource:
        self._stamp = self._file_stamp()
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def _file_stamp(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_size, stat.st_mtime_ns

    def describe(self) -> str:
        return f"CSV file {self.path}"

    def columns(self) -> list[str]:
        return read_header(self._utf8_chunks(), self.delimiter, self.describe())

    def max_value(self, column: str) -> str | None:
        raise SourceError(_NO_CHANGE_COLUMN)

    def restrict(self, column: str, after: str, overlap_s: float, until: str | None = None) -> None:
        raise SourceError(_NO_CHANGE_COLUMN)

    def schema(self) -> dict[str, str]:
        """Column name -> type; a CSV file has only text."""
        return dict.fromkeys(self.columns(), "text")

    def batches(self, batch_size: int, columns: list[str] | None = None, whole: bool = False) -> Iterator[pl.DataFrame]:
        """The rows (of `columns`), batch by batch; a CSV file is always read whole."""
        if getattr(self, "_stamp", None) not in (None, self._file_stamp()):
            raise SourceError(f"{self.path} changed while it was being read; run again on a stable copy")
        remaining = self.limit
        for frame in frames_from_csv_bytes(self._utf8_chunks(), batch_size, self.delimiter, self.describe()):
            frame = frame.select(columns) if columns else frame
            if remaining is not None:
                frame = frame.head(remaining)
                remaining -= frame.height
            yield frame
            if remaining == 0:
                return

    def _utf8_chunks(self) -> Iterator[bytes]:
        """The file as UTF-8 bytes, transcoded on the fly when it is in another encoding, without NUL bytes.

        PostgreSQL text cannot hold a NUL (legacy exports pad fields with them): they are removed, and
        how many is logged once, rather than failing the whole run at the load.
        """
        utf8 = codecs.lookup(self.encoding).name == "utf-8"
        decoder = None if utf8 else codecs.getincrementaldecoder(self.encoding)()
        removed = 0
        with self.path.open("rb") as handle:
            while chunk := handle.read(READ_BYTES):
                chunk = chunk if decoder is None else self._transcode(decoder, chunk)
                if b"\x00" in chunk:
                    removed += chunk.count(b"\x00")
                    chunk = chunk.replace(b"\x00", b"")
                yield chunk
        if decoder is not None:
            yield decoder.decode(b"", final=True).encode("utf-8")
        if removed and not self._nul_reported:
            self._nul_reported = True
            log.warning("%s: removed %d NUL byte(s), which PostgreSQL text cannot hold", self.path, removed)

    def _transcode(self, decoder, chunk: bytes) -> bytes:
        try:
            return decoder.decode(chunk).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{self.path} is not valid {self.encoding}: {exc}; set `source.encoding`") from None

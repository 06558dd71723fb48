"""CSV bytes -> polars frames of text columns in bounded batches; shared by every CSV-speaking source."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator

import polars as pl

from ..errors import SourceError

log = logging.getLogger("smart360_etl")

READ_BYTES = 4 * 1024 * 1024
UNNAMED = "\x00unnamed "  # trailing header cells left empty; no real column name holds a NUL
OTHER_SEPARATORS = (";", "\t", "|")


def frames_from_csv_bytes(
    chunks: Iterable[bytes], batch_size: int, separator: str = ",", origin: str = "source", well_formed: bool = False
) -> Iterator[pl.DataFrame]:
    """Parse a stream of CSV bytes (header first) into frames of at most `batch_size` rows.

    Unless the producer is `well_formed` (PostgreSQL's COPY), short records are an error and blank lines
    are skipped."""
    header: list[str] | None = None
    pending: pl.DataFrame | None = None
    records = 0  # data records before the current block, to name a broken one
    for block in _complete_records(chunks):
        if header is None:
            block, header = _split_header(block, separator, origin)
            if not block:
                continue
        frame = _without_unnamed(_parse(block, header, separator, origin, records, well_formed), origin, records)
        records += frame.height
        pending = frame if pending is None else pl.concat([pending, frame])
        while pending.height >= batch_size:
            yield pending.slice(0, batch_size)
            pending = pending.slice(batch_size)
    if header is None:
        raise SourceError(f"{origin} is empty: no header row found")
    if pending is not None and pending.height:
        yield pending


def read_header(chunks: Iterable[bytes], separator: str, origin: str) -> list[str]:
    for block in _complete_records(chunks):
        return [name for name in _split_header(block, separator, origin)[1] if not name.startswith(UNNAMED)]
    raise SourceError(f"{origin} is empty: no header row found")


def _complete_records(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut arbitrary byte chunks at record boundaries (a newline outside quotes)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) < READ_BYTES:
            continue
        cut = _last_record_end(buffer)
        if cut > 0:
            yield bytes(buffer[:cut])
            del buffer[:cut]
    if buffer.strip():
        yield bytes(buffer if buffer.endswith(b"\n") else buffer + b"\n")


def _last_record_end(buffer: bytearray) -> int:
    # Quotes inside quoted fields are doubled, so a newline is a record end when the quotes before it pair up.
    position = len(buffer)
    while (newline := buffer.rfind(b"\n", 0, position)) >= 0:
        if buffer.count(b'"', 0, newline) % 2 == 0:
            return newline + 1
        position = newline
    return -1


def _without_unnamed(frame: pl.DataFrame, origin: str, records_before: int) -> pl.DataFrame:
    """The frame without the columns of empty header cells, which must hold nothing (or a value would be lost)."""
    unnamed = [c for c in frame.columns if c.startswith(UNNAMED)]
    if not unnamed:
        return frame
    filled = frame.select(pl.any_horizontal(pl.col(unnamed).is_not_null())).to_series().arg_true()
    if len(filled):
        raise SourceError(
            f"{origin}: data record {records_before + filled[0] + 1} has a value under a column without a name "
            "in the header row; name that column in the header"
        )
    return frame.drop(unnamed)


def _split_header(block: bytes, separator: str, origin: str) -> tuple[bytes, list[str]]:
    block = block.removeprefix(b"\xef\xbb\xbf")
    end = _first_record_end(block)
    names = pl.read_csv(block[:end], has_header=False, separator=separator, infer_schema=False).row(0)
    if len(names) == 1 and (other := next((s for s in OTHER_SEPARATORS if s in names[0] and s != separator), None)):
        raise SourceError(
            f"{origin}: the header row reads as one column `{names[0]}`; the file looks separated by "
            f"{other!r}: set `source.delimiter: {other!r}` in the job file"
        )
    named = len(names)
    while named and (names[named - 1] is None or not names[named - 1].strip()):
        named -= 1  # a spreadsheet's trailing empty columns: read, checked empty, then dropped
    if named == 0 or any(n is None or not n.strip() for n in names[:named]):
        raise SourceError(f"{origin}: the header row has an empty column name: {list(names)}")
    if len(set(names[:named])) != named:
        raise SourceError(f"{origin}: the header row repeats a column name: {list(names)}")
    return block[end:], [n.strip() for n in names[:named]] + [f"{UNNAMED}{i}" for i in range(named, len(names))]


def _first_record_end(block: bytes) -> int:
    position = 0
    while (newline := block.find(b"\n", position)) >= 0:
        if block.count(b'"', 0, newline) % 2 == 0:
            return newline + 1
        position = newline + 1
    return len(block)


def _parse(
    block: bytes, header: list[str], separator: str, origin: str, records_before: int, well_formed: bool
) -> pl.DataFrame:
    try:
        frame = pl.read_csv(
            block, has_header=False, new_columns=header, separator=separator, infer_schema=False, quote_char='"'
        )
    except pl.exceptions.PolarsError as exc:
        if "utf-8" in str(exc).lower():
            # One bad byte costs its record, not the run: it becomes U+FFFD, which rejects the record
            # (encoding_invalid, mapping/mapper.py) with its row number.
            repaired = block.decode("utf-8", errors="replace").encode("utf-8")
            frame = _parse(repaired, header, separator, origin, records_before, well_formed)
            garbled = frame.select(pl.any_horizontal(pl.all().str.contains("\ufffd", literal=True))).to_series()
            numbers = [records_before + i + 1 for i in garbled.arg_true().head(10).to_list()]
            log.warning(
                "%s: %d record(s) hold bytes that are not valid UTF-8 (data record(s) %s): rejected as "
                "encoding_invalid; if the whole file is in another encoding, set `source.encoding` (e.g. latin-1)",
                origin, garbled.sum(), ", ".join(map(str, numbers)) + (", ..." if garbled.sum() > 10 else ""),
            )
            return frame
        _raise_misfit(block, header, separator, origin, records_before)
        raise SourceError(f"{origin}: a record does not fit the header's {len(header)} columns: {exc}") from None
    if well_formed or _every_record_fits(block, frame, separator):
        return frame
    return _without_blank_lines(block, frame, header, separator, origin, records_before)


def _every_record_fits(block: bytes, frame: pl.DataFrame, separator: str) -> bool:
    """True when every record has as many fields as the header.

    polars pads a short record with nulls, and reads a blank line as a record of nulls. Each record has
    (fields - 1) separators outside quotes, and every separator inside quotes is in a parsed value; a
    long record is already an error. So the counts agree exactly when no record is short or blank.
    """
    if frame.height == 0:
        return True
    quoted = frame.select(
        pl.sum_horizontal(pl.all().str.count_matches(separator, literal=True).fill_null(0)).sum()
    ).item()
    return block.count(separator.encode()) == frame.height * (frame.width - 1) + quoted


def _without_blank_lines(
    block: bytes, frame: pl.DataFrame, header: list[str], separator: str, origin: str, records_before: int
) -> pl.DataFrame:
    """The rare block that failed the count: blank lines are dropped, a short record is an error."""
    _raise_misfit(block, header, separator, origin, records_before)
    shapes = [len(record) for record in _records(block, separator)]
    if len(shapes) != frame.height:  # the two readers disagree on where records end: say so, lose nothing
        raise SourceError(f"{origin}: could not tell the records apart after data record {records_before}")
    return frame.filter(pl.Series([width > 0 for width in shapes]))


def _raise_misfit(block: bytes, header: list[str], separator: str, origin: str, records_before: int) -> None:
    """A SourceError naming the first record (not a blank line) whose field count differs from the header's."""
    number = records_before
    for record in filter(None, _records(block, separator)):  # blank lines are not records
        number += 1
        if len(record) != len(header):
            shown = separator.join(record)
            raise SourceError(
                f"{origin}: data record {number} has {len(record)} field(s), the header has {len(header)}: "
                f"{shown[:120]!r}; a value holding the delimiter or a line break must be in double quotes"
            )


def _records(block: bytes, separator: str) -> Iterator[list[str]]:
    return csv.reader(io.StringIO(block.decode("utf-8", "replace"), newline=""), delimiter=separator)

"""CSV bytes -> polars frames of text columns in bounded batches; shared by every CSV-speaking source."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import polars as pl

from ..errors import SourceError

READ_BYTES = 4 * 1024 * 1024


def frames_from_csv_bytes(
    chunks: Iterable[bytes], batch_size: int, separator: str = ",", origin: str = "source"
) -> Iterator[pl.DataFrame]:
    """Parse a stream of CSV bytes (header first) into frames of at most `batch_size` rows."""
    header: list[str] | None = None
    pending: pl.DataFrame | None = None
    for block in _complete_records(chunks):
        if header is None:
            block, header = _split_header(block, separator, origin)
            if not block:
                continue
        frame = _parse(block, header, separator, origin)
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
        return _split_header(block, separator, origin)[1]
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


def _split_header(block: bytes, separator: str, origin: str) -> tuple[bytes, list[str]]:
    block = block.removeprefix(b"\xef\xbb\xbf")
    end = _first_record_end(block)
    names = pl.read_csv(block[:end], has_header=False, separator=separator, infer_schema=False).row(0)
    if any(n is None or not n.strip() for n in names):
        raise SourceError(f"{origin}: the header row has an empty column name: {list(names)}")
    if len(set(names)) != len(names):
        raise SourceError(f"{origin}: the header row repeats a column name: {list(names)}")
    return block[end:], [n.strip() for n in names]


def _first_record_end(block: bytes) -> int:
    position = 0
    while (newline := block.find(b"\n", position)) >= 0:
        if block.count(b'"', 0, newline) % 2 == 0:
            return newline + 1
        position = newline + 1
    return len(block)


def _parse(block: bytes, header: list[str], separator: str, origin: str) -> pl.DataFrame:
    try:
        return pl.read_csv(
            block, has_header=False, new_columns=header, separator=separator, infer_schema=False, quote_char='"'
        )
    except pl.exceptions.PolarsError as exc:
        if "utf-8" in str(exc).lower():
            raise SourceError(f"{origin} is not valid UTF-8; set `source.encoding` (e.g. latin-1 or cp1252)") from None
        raise SourceError(f"{origin}: a record does not fit the header's {len(header)} columns: {exc}") from None

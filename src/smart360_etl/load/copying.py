"""COPY polars frames into a table: the one way this tool writes rows in bulk."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import polars as pl
import psycopg
from psycopg import sql

SLICE_ROWS = 10_000


def copy_frames(
    conn: psycopg.Connection, table: sql.Composable, frames: Iterable[pl.DataFrame], columns: Sequence[str]
) -> int:
    """COPY the frames' rows into `table` (`columns` in frame order); returns the rows the database took.

    Each frame is encoded as CSV a slice at a time, so memory stays flat whatever the frame size.
    """
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    with conn.cursor() as cursor:
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(table, names)) as copy:
            for frame in frames:
                for piece in frame.iter_slices(SLICE_ROWS):
                    buffer = io.BytesIO()
                    piece.write_csv(buffer, include_header=False)
                    copy.write(buffer.getbuffer())
        return cursor.rowcount

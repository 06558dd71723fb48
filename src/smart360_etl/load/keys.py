"""The run's source keys, kept in the target database rather than in memory.

A first, narrow pass over the source's id column COPYs every id (after the id field's transform) into
a temporary table. From it, SQL finds the ids that occur more than once before any row is loaded, and
the checks later compare it with the target and the rejects.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

SOURCE_KEYS = sql.Identifier("smart360_etl_source_keys")


@dataclass(frozen=True)
class SourceKeys:
    rows: int  # source rows seen by the id pass (the main pass must see as many)
    ids: int  # non-null ids among them, now in SOURCE_KEYS
    duplicates: pl.Series  # ids that occur more than once


def stage_source_keys(conn: psycopg.Connection, id_batches: Iterable[pl.Series]) -> SourceKeys:
    """COPY the ids into SOURCE_KEYS and find the ones that occur more than once."""
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text) ON COMMIT DROP").format(SOURCE_KEYS))
    rows = 0
    with conn.cursor() as cursor:
        with cursor.copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(SOURCE_KEYS)) as copy:
            for ids in id_batches:
                rows += len(ids)
                buffer = io.BytesIO()
                ids.drop_nulls().to_frame().write_csv(buffer, include_header=False)
                copy.write(buffer.getbuffer())
        count = cursor.rowcount
    conn.execute(sql.SQL("ANALYZE {}").format(SOURCE_KEYS))  # the planner must know it is big
    duplicated = conn.execute(
        sql.SQL("SELECT consumer_id FROM {} GROUP BY consumer_id HAVING count(*) > 1").format(SOURCE_KEYS)
    ).fetchall()
    return SourceKeys(rows, count, pl.Series("consumer_id", [row[0] for row in duplicated], dtype=pl.String))

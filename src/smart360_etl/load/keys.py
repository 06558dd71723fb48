"""The run's source keys, kept in the target database rather than in memory.

A first, narrow pass over the source's id column COPYs every id (after the id field's transform) into
a temporary table (in incremental runs the pass reads whole rows and keeps a hash of each). From it, SQL finds the ids that occur more than once before any row is loaded, and
the checks later compare it with the target and the rejects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from .copying import copy_frames

SOURCE_KEYS = sql.Identifier("smart360_etl_source_keys")


@dataclass(frozen=True)
class SourceKeys:
    rows: int  # source rows seen by the id pass (the main pass must see as many)
    ids: int  # non-null ids among them, now in SOURCE_KEYS
    duplicates: pl.Series  # ids that occur more than once


def stage_source_keys(
    conn: psycopg.Connection, id_batches: Iterable[pl.DataFrame], with_hash: bool = False
) -> SourceKeys:
    """COPY the ids (and, in incremental runs, each row's hash) into SOURCE_KEYS; find ids that occur twice.

    Each batch is a frame with `consumer_id` and, when `with_hash`, `row_hash`.
    """
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text, row_hash text) ON COMMIT DROP").format(SOURCE_KEYS))
    seen = [0]
    columns = ["consumer_id", "row_hash"] if with_hash else ["consumer_id"]

    def non_null(batches: Iterable[pl.DataFrame]) -> Iterable[pl.DataFrame]:
        for frame in batches:
            seen[0] += frame.height
            yield frame.filter(pl.col("consumer_id").is_not_null()).select(columns)

    count = copy_frames(conn, SOURCE_KEYS, non_null(id_batches), columns)
    conn.execute(sql.SQL("ANALYZE {}").format(SOURCE_KEYS))  # the planner must know it is big
    duplicated = conn.execute(
        sql.SQL("SELECT consumer_id FROM {} GROUP BY consumer_id HAVING count(*) > 1").format(SOURCE_KEYS)
    ).fetchall()
    return SourceKeys(seen[0], count, pl.Series("consumer_id", [row[0] for row in duplicated], dtype=pl.String))


ACCOUNT_KEYS = sql.Identifier("smart360_etl_account_keys")
CONFLICTS = {"account_conflict": "account_number", "meter_conflict": "meter_number"}


def find_account_conflicts(conn: psycopg.Connection, claims: Iterable[pl.DataFrame]) -> dict[str, pl.Series]:
    """Account and meter numbers claimed by more than one consumer id; every record claiming one is rejected
    (reason -> consumer ids), since which consumer really holds it cannot be known here.

    Each frame has `consumer_id`, `account_number` and `meter_number` (one row per meter).
    """
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (consumer_id text, account_number text, meter_number text) ON COMMIT DROP"
        ).format(ACCOUNT_KEYS)
    )
    copy_frames(conn, ACCOUNT_KEYS, claims, ["consumer_id", "account_number", "meter_number"])
    conn.execute(sql.SQL("ANALYZE {}").format(ACCOUNT_KEYS))
    conflicts = {}
    for reason, column in CONFLICTS.items():
        rows = conn.execute(
            sql.SQL(
                # min <> max: two different ids, as count(DISTINCT) > 1 says, but hashed instead of sorted (2x)
                "SELECT DISTINCT k.consumer_id FROM {keys} k JOIN (SELECT {c} FROM {keys} WHERE {c} IS NOT NULL "
                "GROUP BY {c} HAVING min(consumer_id) <> max(consumer_id)) AS claimed USING ({c}) "
                "WHERE k.consumer_id IS NOT NULL"
            ).format(keys=ACCOUNT_KEYS, c=sql.Identifier(column))
        ).fetchall()
        conflicts[reason] = pl.Series("consumer_id", [row[0] for row in rows], dtype=pl.String)
    return conflicts

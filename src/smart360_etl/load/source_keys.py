"""The run's source keys, kept in the target database rather than in memory.

A first, narrow pass over the source's id column COPYs every id (after the id field's transform) into
a temporary table (in incremental runs the pass reads whole rows and keeps a hash of each). From it, SQL
finds the ids that occur more than once before any row is loaded, and the checks later compare it with
the target and the rejects. With accounts, the same pass reads the account and meter columns too, and
SQL finds the numbers that more than one consumer id claims.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from ..reasons import ACCOUNT_CONFLICT, METER_CONFLICT
from .copying import copy_frames

SOURCE_KEYS = sql.Identifier("smart360_etl_source_keys")


@dataclass(frozen=True)
class SourceKeys:
    rows: int  # source rows seen by the id pass (the main pass must see as many)
    ids: int  # non-null ids among them, now in SOURCE_KEYS
    duplicates: pl.Series  # ids that occur more than once
    conflicts: dict[str, pl.Series] = field(default_factory=dict)  # reason -> ids claiming a contested number


ACCOUNT_KEYS = sql.Identifier("smart360_etl_account_keys")
CONFLICTS = {ACCOUNT_CONFLICT: "account_number", METER_CONFLICT: "meter_number"}


def stage_source_keys(
    conn: psycopg.Connection, id_batches: Iterable[pl.DataFrame], with_hash: bool = False, with_claims: bool = False
) -> SourceKeys:
    """COPY the ids (and, in incremental runs, each row's hash) into SOURCE_KEYS; find ids that occur twice.

    Each batch is a frame with `consumer_id` and, when `with_hash`, `row_hash`. `with_claims`: it also has
    each record's `account_number` and `meter_number` (a list), and the conflicts are found.
    """
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text, row_hash text) ON COMMIT DROP").format(SOURCE_KEYS))
    if with_claims:
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE {} (consumer_id text, account_number text, meter_number text) ON COMMIT DROP"
            ).format(ACCOUNT_KEYS)
        )
    rows, ids = 0, 0
    columns = ["consumer_id", "row_hash"] if with_hash else ["consumer_id"]
    for frame in id_batches:  # two tables to fill from one pass: one COPY per batch and table
        rows += frame.height
        ids += copy_frames(
            conn, SOURCE_KEYS, [frame.filter(pl.col("consumer_id").is_not_null()).select(columns)], columns
        )
        if with_claims:
            claims = frame.explode("meter_number").select("consumer_id", "account_number", "meter_number")
            copy_frames(conn, ACCOUNT_KEYS, [claims], claims.columns)
    conn.execute(sql.SQL("ANALYZE {}").format(SOURCE_KEYS))  # the planner must know it is big
    duplicated = conn.execute(
        sql.SQL("SELECT consumer_id FROM {} GROUP BY consumer_id HAVING count(*) > 1").format(SOURCE_KEYS)
    ).fetchall()
    duplicates = pl.Series("consumer_id", [row[0] for row in duplicated], dtype=pl.String)
    return SourceKeys(rows, ids, duplicates, _account_conflicts(conn) if with_claims else {})


def _account_conflicts(conn: psycopg.Connection) -> dict[str, pl.Series]:
    """Account and meter numbers claimed by more than one consumer id; every record claiming one is rejected
    (reason -> consumer ids), since which consumer really holds it cannot be known here."""
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

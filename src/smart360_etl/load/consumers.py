"""Load mapped consumers: COPY each batch into a staging table, then set-based SQL does the rest.

Everything of one run shares the caller's transaction: duplicates across batches are found in the
staging table, rejects and the upsert happen once at the end, and a rollback leaves the target as it was.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..mapping.fields import CONSUMER_FIELDS
from ..mapping.mapper import BOOKKEEPING

STAGING = sql.Identifier("smart360_etl_staging")
COPY_SLICE_ROWS = 10_000


@dataclass
class LoadCounts:
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    warnings_by_reason: dict[str, int] = field(default_factory=dict)


class ConsumerLoader:
    """One run's load into `<schema>.consumer`, inside a transaction the caller owns."""

    def __init__(self, conn: psycopg.Connection, target: TargetConfig, run_id: str) -> None:
        self.conn, self.run_id, self.staged = conn, run_id, 0
        self.consumer = sql.Identifier(target.schema_, "consumer")
        self.reject = sql.Identifier(target.etl_schema, "reject")
        columns = ", ".join(f"{c} text" for c in CONSUMER_FIELDS)
        # Staging lives in session memory while it fits: the default 8 MB spills a large run to disk.
        conn.execute("SET LOCAL temp_buffers = '1GB'")
        conn.execute("SET LOCAL work_mem = '256MB'")  # the set-based steps hash whole runs
        conn.execute(sql.SQL(
            "CREATE TEMP TABLE {} (" + columns + ", source_row_number bigint, reject_reasons text, "
            "warn_reasons text, source_row text) ON COMMIT DROP").format(STAGING))

    def stage(self, mapped: pl.DataFrame) -> None:
        """COPY one mapped batch into staging, encoded a slice at a time to keep memory flat."""
        columns = sql.SQL(", ").join(map(sql.Identifier, (*CONSUMER_FIELDS, *BOOKKEEPING)))
        with self.conn.cursor() as cursor:
            with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(STAGING, columns)) as copy:
                for piece in mapped.select(*CONSUMER_FIELDS, *BOOKKEEPING).iter_slices(COPY_SLICE_ROWS):
                    buffer = io.BytesIO()
                    piece.write_csv(buffer, include_header=False)
                    copy.write(buffer.getbuffer())
            self.staged += cursor.rowcount

    def finish(self) -> LoadCounts:
        """Flag duplicate ids, store rejects, upsert the rest; returns what happened to every staged row."""
        self._flag_duplicates()
        counts = LoadCounts(staged=self.staged)
        counts.rejected = self._store_rejects()
        counts.updated = self._update_changed()
        counts.inserted = self._insert_new()
        counts.unchanged = counts.staged - counts.rejected - counts.inserted - counts.updated
        counts.rejects_by_reason, counts.warnings_by_reason = self._by_reason()
        return counts

    def _execute(self, query: sql.Composable, params: list | None = None) -> int:
        with self.conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.rowcount

    def _flag_duplicates(self) -> None:
        # Which copy of a duplicated id is right cannot be known here: all copies go to review.
        self._execute(sql.SQL(
            "UPDATE {stg} SET reject_reasons = concat_ws(',', reject_reasons, 'consumer_id_duplicate') "
            "WHERE consumer_id IN (SELECT consumer_id FROM {stg} WHERE consumer_id IS NOT NULL "
            "GROUP BY consumer_id HAVING count(*) > 1)").format(stg=STAGING))

    def _store_rejects(self) -> int:
        return self._execute(sql.SQL(
            "INSERT INTO {reject} (run_id, source_row_number, consumer_id, reasons, source_row) "
            "SELECT %s, source_row_number, consumer_id, string_to_array(reject_reasons, ','), source_row::jsonb "
            "FROM {stg} WHERE reject_reasons IS NOT NULL").format(reject=self.reject, stg=STAGING), [self.run_id])

    # Update, then insert what is new: joins instead of ON CONFLICT's row-by-row speculative inserts.
    def _update_changed(self) -> int:
        updatable = [sql.Identifier(c) for c in CONSUMER_FIELDS if c != "consumer_id"]
        return self._execute(sql.SQL(
            "UPDATE {consumer} AS t SET ({cols}, updated_at) = ({new}, now()) FROM {stg} AS s "
            "WHERE s.reject_reasons IS NULL AND t.consumer_id = s.consumer_id AND ({old}) IS DISTINCT FROM ({new})"
        ).format(consumer=self.consumer, stg=STAGING, cols=sql.SQL(", ").join(updatable),
                 old=sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in updatable),
                 new=sql.SQL(", ").join(sql.SQL("s.{}").format(c) for c in updatable)))

    def _insert_new(self) -> int:
        fields = sql.SQL(", ").join(map(sql.Identifier, CONSUMER_FIELDS))
        return self._execute(sql.SQL(
            "INSERT INTO {consumer} ({fields}) SELECT {fields} FROM {stg} AS s WHERE s.reject_reasons IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM {consumer} AS t WHERE t.consumer_id = s.consumer_id)"
        ).format(consumer=self.consumer, stg=STAGING, fields=fields))

    def _by_reason(self) -> tuple[dict[str, int], dict[str, int]]:
        rows = self.conn.execute(sql.SQL(
            "SELECT r.kind, r.reason, count(*) FROM {stg}, LATERAL ("
            "  SELECT 'reject', unnest(string_to_array(reject_reasons, ','))"
            "  UNION ALL SELECT 'warn', unnest(string_to_array(warn_reasons, ',')) WHERE reject_reasons IS NULL"
            ") AS r (kind, reason) WHERE reject_reasons IS NOT NULL OR warn_reasons IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY 3 DESC, 2").format(stg=STAGING)).fetchall()
        by_kind: dict[str, dict[str, int]] = {"reject": {}, "warn": {}}
        for kind, reason, count in rows:
            by_kind[kind][reason] = count
        return by_kind["reject"], by_kind["warn"]

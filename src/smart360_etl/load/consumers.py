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
        self.conn, self.run_id = conn, run_id
        self.consumer = sql.Identifier(target.schema_, "consumer")
        self.reject = sql.Identifier(target.etl_schema, "reject")
        columns = ", ".join(f"{c} text" for c in CONSUMER_FIELDS)
        conn.execute(sql.SQL(
            "CREATE TEMP TABLE {} (" + columns + ", source_row_number bigint, reject_reasons text, "
            "warn_reasons text, source_row text) ON COMMIT DROP").format(STAGING))

    def stage(self, mapped: pl.DataFrame) -> None:
        """COPY one mapped batch into staging."""
        buffer = io.BytesIO()
        mapped.select(*CONSUMER_FIELDS, *BOOKKEEPING).write_csv(buffer, include_header=False)
        columns = sql.SQL(", ").join(map(sql.Identifier, (*CONSUMER_FIELDS, *BOOKKEEPING)))
        with self.conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(STAGING, columns)) as copy:
            copy.write(buffer.getbuffer())

    def finish(self) -> LoadCounts:
        """Flag duplicate ids, store rejects, upsert the rest; returns what happened to every staged row."""
        self._flag_duplicates()
        counts = LoadCounts()
        counts.staged, counts.rejected = self.conn.execute(sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE reject_reasons IS NOT NULL) FROM {}").format(STAGING)).fetchone()
        self._store_rejects()
        counts.inserted, counts.updated = self._upsert()
        counts.unchanged = counts.staged - counts.rejected - counts.inserted - counts.updated
        counts.rejects_by_reason = self._by_reason("reject_reasons", "reject_reasons IS NOT NULL")
        counts.warnings_by_reason = self._by_reason("warn_reasons", "reject_reasons IS NULL")
        return counts

    def _flag_duplicates(self) -> None:
        # Which copy of a duplicated id is right cannot be known here: all copies go to review.
        self.conn.execute(sql.SQL(
            "UPDATE {stg} SET reject_reasons = concat_ws(',', reject_reasons, 'consumer_id_duplicate') "
            "WHERE consumer_id IN (SELECT consumer_id FROM {stg} WHERE consumer_id IS NOT NULL "
            "GROUP BY consumer_id HAVING count(*) > 1)").format(stg=STAGING))

    def _store_rejects(self) -> None:
        self.conn.execute(sql.SQL(
            "INSERT INTO {reject} (run_id, source_row_number, consumer_id, reasons, source_row) "
            "SELECT %s, source_row_number, consumer_id, string_to_array(reject_reasons, ','), source_row::jsonb "
            "FROM {stg} WHERE reject_reasons IS NOT NULL").format(reject=self.reject, stg=STAGING), [self.run_id])

    def _upsert(self) -> tuple[int, int]:
        fields = [sql.Identifier(c) for c in CONSUMER_FIELDS]
        updatable = [sql.Identifier(c) for c in CONSUMER_FIELDS if c != "consumer_id"]
        query = sql.SQL(
            "WITH up AS (INSERT INTO {consumer} AS t ({fields}) SELECT {fields} FROM {stg} "
            "WHERE reject_reasons IS NULL ORDER BY consumer_id "
            "ON CONFLICT (consumer_id) DO UPDATE SET ({updatable}, updated_at) = ({excluded}, now()) "
            "WHERE ({current}) IS DISTINCT FROM ({excluded}) "
            "RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
        ).format(
            consumer=self.consumer, stg=STAGING,
            fields=sql.SQL(", ").join(fields), updatable=sql.SQL(", ").join(updatable),
            current=sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in updatable),
            excluded=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(c) for c in updatable),
        )
        return self.conn.execute(query).fetchone()

    def _by_reason(self, column: str, where: str) -> dict[str, int]:
        rows = self.conn.execute(sql.SQL(
            "SELECT reason, count(*) FROM {stg}, unnest(string_to_array({col}, ',')) AS reason "
            "WHERE " + where + " GROUP BY reason ORDER BY count(*) DESC, reason").format(
                stg=STAGING, col=sql.Identifier(column))).fetchall()
        return dict(rows)

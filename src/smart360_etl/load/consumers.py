"""Load mapped consumers batch by batch: rejects COPY straight into the reject table; clean rows COPY
into a small staging table, then one set-based UPDATE of changed rows and one INSERT of new ones
(or, into an empty consumer table, COPY straight in).

Every batch shares the caller's transaction, so a failure anywhere leaves the target as it was.
Duplicate ids are known before the first batch (load/source_keys.py), so a batch never has to wait for
later ones: the work of loading it overlaps with mapping the next.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..db import one_row
from ..mapping.fields import CONSUMER_FIELDS
from ..result import ReasonSamples
from .copying import copy_frames
from .merging import Table, merge

STAGING = sql.Identifier("smart360_etl_staging")
# The ids of the consumers the run inserted or updated: what its checks look at (checks/context.py).
WRITTEN = sql.Identifier("smart360_etl_written")
CONSUMER = Table("consumer", ("consumer_id",), tuple(f for f in CONSUMER_FIELDS if f != "consumer_id"))


@dataclass
class LoadCounts:
    staged: int = 0
    skipped: int = 0  # compare mode: rows whose source is as it was when loaded; neither mapped nor written
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    rejects_by_reason: Counter = field(default_factory=Counter)
    warnings_by_reason: Counter = field(default_factory=Counter)
    # The first rows of each reason, for the report: {"rejects" | "warnings": {reason: [row, ...]}}.
    reason_samples: ReasonSamples = field(default_factory=lambda: ReasonSamples(rejects={}, warnings={}))

    @property
    def unchanged(self) -> int:
        return self.staged + self.skipped - self.inserted - self.updated


class ConsumerLoader:
    """One run's load into `<schema>.consumer`, inside a transaction the caller owns."""

    def __init__(
        self,
        conn: psycopg.Connection,
        target: TargetConfig,
        run_id: str,
        before_copy: Callable[[sql.Identifier, pl.DataFrame], pl.DataFrame] | None = None,
    ) -> None:
        """`before_copy(table, frame)` returns the frame to COPY into `table`: a seam for fault tests."""
        self.conn, self.run_id, self.counts = conn, run_id, LoadCounts()
        self.before_copy = before_copy
        self.consumer = target.table("consumer")
        self.reject = target.table("reject")
        self.warning = target.table("warning")
        self.run_consumer = target.table("run_consumer")
        # Per-batch joins probe the consumer key: whatever the (stale) statistics say, a hash join
        # that re-reads the whole growing table for every batch would make a big run quadratic.
        conn.execute("SET LOCAL enable_hashjoin = off")
        conn.execute("SET LOCAL enable_mergejoin = off")
        # A batch's statements touch a batch's rows, but their estimates (from the whole table) make the
        # server compile them (JIT) for a second or more each: far more than they take.
        conn.execute("SET LOCAL jit = off")
        columns = ", ".join(f"{c} text" for c in CONSUMER_FIELDS)
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (" + columns + ") ON COMMIT DROP").format(STAGING))
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text) ON COMMIT DROP").format(WRITTEN))
        self.into_empty = self._claim_if_empty()

    def _claim_if_empty(self) -> bool:
        """An empty consumer table (a first or mock load) takes clean rows straight by COPY.

        Every clean row is then new (duplicate ids are already rejected), so staging and merging would
        be wasted work. The table is locked against other writers for the run so that it stays true.
        """
        empty = sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(self.consumer)
        if not one_row(self.conn.execute(empty))[0]:
            return False
        self._execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(self.consumer))
        return one_row(self.conn.execute(empty))[0]

    def load(self, mapped: pl.DataFrame) -> None:
        """Load one mapped batch; adds what happened to each of its rows to `counts`."""
        rejected = mapped.filter(pl.col("reject_reasons").is_not_null())
        loaded = mapped.filter(pl.col("reject_reasons").is_null())
        self._count_reasons(rejected, loaded)
        clean = loaded.select(CONSUMER_FIELDS)
        self.counts.rejected += self._copy_rejects(rejected)
        self._copy_warnings(loaded)
        self._copy(self.run_consumer, clean.select(
            pl.lit(self.run_id).alias("run_id"), "consumer_id", row_hash(CONSUMER_FIELDS).alias("row_hash")
        ))
        self._sample(rejected, loaded)
        if self.into_empty:
            copied = self._copy(self.consumer, clean)
            self.counts.staged += copied
            self.counts.inserted += copied
            return
        self._execute(sql.SQL("TRUNCATE {}").format(STAGING))
        self.counts.staged += self._copy(STAGING, clean)
        inserted, updated = merge(self.conn, self.consumer, CONSUMER, STAGING, written=WRITTEN)
        self.counts.inserted += inserted
        self.counts.updated += updated

    def _count_reasons(self, rejected: pl.DataFrame, loaded: pl.DataFrame) -> None:
        for reasons, counter in (
            (rejected["reject_reasons"], self.counts.rejects_by_reason),
            (loaded["warn_reasons"], self.counts.warnings_by_reason),
        ):
            counter.update(dict(reasons.drop_nulls().str.split(",").explode().value_counts().iter_rows()))

    def _sample(self, rejected: pl.DataFrame, loaded: pl.DataFrame) -> None:
        """Keep the first SAMPLE_ROWS rows of every reason (row number, consumer id; for a warning the
        field and its source value, masked when the report is written)."""
        samples = self.counts.reason_samples
        if rejected.height:
            rows = rejected.select("source_row_number", "consumer_id", pl.col("reject_reasons").str.split(",")
                                   .alias("reason")).explode("reason")
            _keep_first(samples["rejects"], rows)
        if "warnings" in loaded.columns and loaded["warnings"].is_not_null().any():
            rows = _warning_rows(loaded).select("source_row_number", "consumer_id", "reason", "field", "source_value")
            _keep_first(samples["warnings"], rows)

    def _copy_rejects(self, rejected: pl.DataFrame) -> int:
        rows = rejected.select(
            pl.lit(self.run_id).alias("run_id"),
            "source_row_number",
            "consumer_id",
            ("{" + pl.col("reject_reasons") + "}").alias("reasons"),
            "source_row",
        )
        return self._copy(self.reject, rows)

    def _copy_warnings(self, loaded: pl.DataFrame) -> int:
        """Every warning of a loaded row, with the source value it is about: reviewable like the rejects."""
        if "warnings" not in loaded.columns:
            return 0
        rows = _warning_rows(loaded).select(pl.lit(self.run_id).alias("run_id"), pl.all())
        return self._copy(self.warning, rows)

    def _copy(self, table: sql.Identifier, frame: pl.DataFrame) -> int:
        if self.before_copy is not None:
            frame = self.before_copy(table, frame)
        return copy_frames(self.conn, table, [frame], frame.columns) if frame.height else 0

    def _execute(self, query: sql.Composed) -> int:
        with self.conn.cursor() as cursor:
            cursor.execute(query)
            return cursor.rowcount


SAMPLE_ROWS = 5


def _warning_rows(loaded: pl.DataFrame) -> pl.DataFrame:
    """One row per warning: source row number, consumer id, reason, field, source column, source value."""
    warned = loaded.select("source_row_number", "consumer_id", "warnings").filter(pl.col("warnings").is_not_null())
    return warned.explode("warnings").unnest("warnings")


def _keep_first(samples: dict[str, list[dict]], rows: pl.DataFrame) -> None:
    for row in rows.group_by("reason", maintain_order=True).head(SAMPLE_ROWS).iter_rows(named=True):
        kept = samples.setdefault(row.pop("reason"), [])
        if len(kept) < SAMPLE_ROWS:
            kept.append(row)


def row_hash(columns: list[str] | tuple[str, ...]) -> pl.Expr:
    """A 64-bit hash of a mapped row, as a signed bigint: what `compare` tells changed consumers apart by
    (polars' hash, so only runs of the same tool version compare exactly)."""
    return pl.struct(list(columns)).hash(seed=360).reinterpret(signed=True)

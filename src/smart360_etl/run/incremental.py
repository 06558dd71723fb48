"""Incremental sync: extract only what changed, remember what was loaded, notice what disappeared.

Two modes (`source.incremental`):
- column: rows whose change column is past the last successful run's watermark, minus an overlap;
  the watermark is stored in the target in the run's own transaction, so a failed run never moves it.
- compare: every source row is hashed in one read of the source (run/changes.py); rows whose hash
  equals the one loaded before are counted as unchanged without being mapped or written.
Both keep `smart360_etl.source_row` (job, consumer_id, row_hash): what each loaded consumer looked
like in the source. It finds deleted source rows, and it lets every run verify its own window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig, parse_duration
from ..db import for_whole_tables, nul_chunks, nul_joined, one_row
from ..load.copying import copy_frames
from ..load.merging import Table, merge
from ..load.source_keys import SOURCE_KEYS
from ..mapping.fields import FieldRule
from ..result import Deleted, IncrementalSummary, Verification
from ..sources import open_source
from .changes import contained
from .context import RunContext
from .passes import id_batches, key_frames

log = logging.getLogger("smart360_etl")
# run_id: the run that last changed the row; an unchanged row keeps its own.
SOURCE_ROW = Table("source_row", ("job", "consumer_id"), ("row_hash", "run_id"), stamped=False, bookkeeping=("run_id",))


@dataclass
class Window:
    mode: str  # column | compare
    column: str | None = None
    since: str | None = None  # the watermark read from (None: everything, a first run or --full-refresh)
    until: str | None = None  # the source's largest change stamp in this run's snapshot: the next watermark

    @property
    def whole_source(self) -> bool:
        return self.mode == "compare" or self.since is None

    def describe(self) -> str:
        if self.mode == "compare":
            return "compare mode: every source row hashed, unchanged rows skipped"
        if self.since is None:
            return f"{self.column}: everything (no watermark yet, or a full refresh), up to {self.until}"
        return f"{self.column}: after {self.since} (minus the overlap) up to {self.until}"


def open_window(conn: psycopg.Connection, job: JobConfig, source, full_refresh: bool) -> Window:
    """Read the watermark and narrow the source to the rows changed since (column mode)."""
    settings = job.source.incremental_section
    if settings.mode == "compare":
        return Window("compare")
    since = None if full_refresh else _watermark(conn, job)
    window = Window("column", settings.column, since, source.max_value(settings.column))
    if since is not None:
        source.restrict(settings.column, since, parse_duration(settings.overlap).total_seconds())
    log.info("incremental window: %s", window.describe(), extra={"stage": "extract"})
    return window


def _watermark(conn: psycopg.Connection, job: JobConfig) -> str | None:
    row = conn.execute(
        sql.SQL("SELECT value, column_name FROM {} WHERE job = %s").format(job.target.table("watermark")), [job.name]
    ).fetchone()
    if row is None or row[1] != job.source.incremental_section.column:
        return None  # never run, or the change column was switched: start again from everything
    return row[0]


def save_watermark(conn: psycopg.Connection, job: JobConfig, window: Window, run_id: str) -> None:
    """Inside the run's transaction: committed with the data, or not at all."""
    if window.mode != "column" or window.until is None:
        return
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (job, column_name, value, run_id) VALUES (%s, %s, %s, %s) ON CONFLICT (job) "
            "DO UPDATE SET column_name = excluded.column_name, value = excluded.value, run_id = excluded.run_id, "
            "updated_at = now()"
        ).format(job.target.table("watermark")),
        [job.name, window.column, window.until, run_id],
    )


def record_loaded(conn: psycopg.Connection, job: JobConfig, run_id: str) -> None:
    """What each consumer loaded by this run looked like in the source; a rejected row is forgotten,
    so that it is tried again on the next run even if the source does not change it."""
    loaded, reject = job.target.table("source_row"), job.target.table("reject")
    conn.execute(
        sql.SQL(
            "DELETE FROM {loaded} s USING {reject} r WHERE s.job = %s AND r.run_id = %s "
            "AND r.consumer_id = s.consumer_id"
        ).format(loaded=loaded, reject=reject),
        [job.name, run_id],
    )
    # Only the rows this run mapped and loaded can differ from what is stored (compare mode skips the rest).
    loaded_now = sql.SQL(
        "SELECT {job} AS job, k.consumer_id, k.row_hash, {run} AS run_id FROM {keys} k "
        "WHERE k.consumer_id IN (SELECT consumer_id FROM {mapped} WHERE run_id = {run}) "
        "AND NOT EXISTS (SELECT FROM {reject} r WHERE r.run_id = {run} AND r.consumer_id = k.consumer_id)"
    ).format(job=sql.Literal(job.name), run=sql.Literal(run_id), keys=SOURCE_KEYS, reject=reject,
             mapped=job.target.table("run_consumer"))
    merge(conn, loaded, SOURCE_ROW, loaded_now)


def id_hashes(ids: pl.Series) -> np.ndarray:
    """Each id as a 64-bit hash: a million of them compared in 8 MB instead of 40 MB of text. Two ids with
    one hash (odds 1 in 10^13 per id at a million) would hide a deleted row behind a present one."""
    return ids.drop_nulls().hash(seed=360).to_numpy()


def deleted_ids(conn: psycopg.Connection, job: JobConfig, window: Window, source_ids: np.ndarray | None) -> list[str]:
    """Consumers this job loaded whose id the source no longer has; `mark_inactive` sets them INACTIVE.

    `source_ids`: the whole source's ids (`id_hashes`, sorted; column mode after a watermark, whose window is not
    the source); otherwise the source keys are the whole source."""
    loaded = job.target.table("source_row")
    if source_ids is None:
        rows = conn.execute(
            sql.SQL(
                "SELECT s.consumer_id FROM {loaded} s WHERE s.job = %s AND NOT EXISTS "
                "(SELECT FROM {keys} k WHERE k.consumer_id = s.consumer_id)"
            ).format(loaded=loaded, keys=SOURCE_KEYS),
            [job.name],
        )
        gone = sorted(row[0] for row in rows)
    else:  # two sets of a million ids compared here cost less than sending one to the target
        ids = one_row(conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE job = %s").format(nul_joined(sql.Identifier("consumer_id")), loaded),
            [job.name],
            binary=True,
        ))[0]
        gone = sorted(
            consumer_id
            for known in nul_chunks(ids, "consumer_id")
            for consumer_id in known.filter(pl.Series(~contained(source_ids, id_hashes(known)))).to_list()
        )
    if gone and job.source.incremental_section.deletes == "mark_inactive":
        # Their accounts too (a job with `accounts:`): a returning record makes its account ACTIVE again.
        for table in ("consumer", "account") if job.accounts else ("consumer",):
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET status = 'INACTIVE' WHERE consumer_id = ANY(%s) AND status <> 'INACTIVE'"
                ).format(job.target.table(table)),
                [gone],
            )
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE job = %s AND consumer_id = ANY(%s)").format(job.target.table("source_row")),
            [job.name, gone],
        )
    return gone


def reactivate(conn: psycopg.Connection, job: JobConfig) -> None:
    """mark_inactive: a consumer back in the source is active again."""
    conn.execute(
        sql.SQL(
            "UPDATE {consumer} c SET status = 'ACTIVE' FROM {keys} k WHERE c.consumer_id = k.consumer_id "
            "AND c.status = 'INACTIVE'"
        ).format(consumer=job.target.table("consumer"), keys=SOURCE_KEYS)
    )


def verify_window(conn: psycopg.Connection, job: JobConfig, window: Window, run_id: str, fresh_rows) -> tuple:
    """Every source row of the window is in the target as it is in the source now, or rejected by this run.

    `fresh_rows` re-reads the window in a new snapshot (column mode after a watermark): a row committed
    late with an old change stamp (the classic cursor-boundary loss) shows up there and fails the check.
    Returns (failing, total, sample of ids).
    """
    keys = SOURCE_KEYS
    if fresh_rows is not None:
        keys = sql.Identifier("smart360_etl_fresh_keys")
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text, row_hash text) ON COMMIT DROP").format(keys))
        frames = (frame.filter(pl.col("consumer_id").is_not_null()) for frame in fresh_rows)
        copy_frames(conn, keys, frames, ["consumer_id", "row_hash"])
        conn.execute(sql.SQL("ANALYZE {}").format(keys))
    # Set-based (outer joins, hashed), not a subquery per row: windows of a whole source must stay fast.
    total, failing, sample = one_row(conn.execute(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE NOT ok), "
            "(array_agg(consumer_id ORDER BY consumer_id) FILTER (WHERE NOT ok))[1:5] "
            "FROM (SELECT k.consumer_id, r.consumer_id IS NOT NULL "
            "OR coalesce(s.row_hash = k.row_hash AND c.consumer_id IS NOT NULL, false) AS ok FROM {keys} k "
            "LEFT JOIN (SELECT DISTINCT consumer_id FROM {reject} WHERE run_id = %s) r "
            "ON r.consumer_id = k.consumer_id "
            "LEFT JOIN {loaded} s ON s.job = %s AND s.consumer_id = k.consumer_id "
            "LEFT JOIN {consumer} c ON c.consumer_id = k.consumer_id) AS v"
        ).format(
            reject=job.target.table("reject"),
            loaded=job.target.table("source_row"),
            consumer=job.target.table("consumer"),
            keys=keys,
        ),
        [run_id, job.name],
    ))
    return failing, total, sample or []


def finish_incremental(run: RunContext, window: Window) -> IncrementalSummary:
    """After the load: remember what was loaded, find deleted rows, verify the window, move the watermark."""
    conn, job, source, rules, run_id = run.conn, run.job, run.source, run.rules, run.result.run_id
    settings = job.source.incremental_section
    for_whole_tables(conn)  # whole-table joins from here on
    record_loaded(conn, job, run_id)
    deleted: list[str] = []
    if settings.deletes != "ignore":
        source_ids = None
        if not window.whole_source:  # one narrow pass over the whole source's ids
            source_ids = np.sort(np.concatenate([np.empty(0, np.uint64),
                                                 *map(id_hashes, id_batches(job, source, rules, True))]))
        if settings.deletes == "mark_inactive":
            reactivate(conn, job)
        deleted = deleted_ids(conn, job, window, source_ids)
    fresh = None
    if window.mode == "column" and window.since is not None:
        fresh = _fresh_window(job, rules, window, window.since)
    failing, total, sample = verify_window(conn, job, window, run_id, fresh)
    if failing == 0:
        save_watermark(conn, job, window, run_id)
    else:
        log.warning(
            "window verification: %d of %d rows differ; the watermark stays at %s so the next run reads them again",
            failing,
            total,
            window.since,
            extra={"stage": "sync"},
        )
    return IncrementalSummary(
        mode=window.mode,
        window=window.describe(),
        since=window.since,
        until=window.until,
        watermark_saved=failing == 0 and window.mode == "column" and window.until is not None,
        verified=Verification(failing=failing, total=total, sample=sample),
        deletes=settings.deletes,
        deleted=Deleted(count=len(deleted), sample=deleted[:20]),
    )


def _fresh_window(job: JobConfig, rules: list[FieldRule], window: Window, since: str) -> Iterator[pl.DataFrame]:
    """The run's window read again in a new snapshot: rows committed late with an old stamp show up here."""
    settings = job.source.incremental_section
    assert settings.column is not None  # column mode always has one (IncrementalConfig)
    with open_source(job.source) as fresh:
        fresh.restrict(settings.column, since, parse_duration(settings.overlap).total_seconds(), window.until)
        yield from key_frames(job, fresh, rules, hashed=True)

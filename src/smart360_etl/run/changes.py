"""Compare mode (`source.incremental.mode: compare`, for sources without a change stamp): the source is
read once. Each batch is hashed where it is (polars' 64-bit row hash: vectorised), its keys go to the
source keys, and only the rows whose (id, hash) the job did not load before are kept, in spill files on
local disk, for the main pass to map and write. Unchanged rows are counted, never mapped or written.

A row skipped as unchanged whose id turns out, later in the pass, to occur twice must be rejected with
its twin: those few ids are read from the source again, the one case of a second read.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig
from ..db import nul_chunks, nul_joined, one_row
from ..load.source_keys import SOURCE_KEYS
from ..mapping.accounts import AccountRules, claimed_numbers
from ..mapping.fields import FieldRule, consumer_id_rule
from ..mapping.mapper import map_field
from ..mapping.text import row_hashes

log = logging.getLogger("smart360_etl")
NUMBER = "\x00source_row_number"  # the spilled rows' position in the source; no real column name holds a NUL
Numbered = tuple[pl.DataFrame, pl.Series]  # a batch and its rows' numbers in the source (from 1)


def numbered_batches(job: JobConfig, source) -> Iterator[Numbered]:
    """The source's batches with their rows' numbers in the source (from 1)."""
    done = 0
    for batch in source.batches(job.source.batch_size):
        yield batch, pl.int_range(done + 1, done + 1 + batch.height, dtype=pl.Int64, eager=True)
        done += batch.height


def stored_keys(conn: psycopg.Connection, job: JobConfig) -> np.ndarray:
    """The (id, hash) of every row the job loaded, each as one 64-bit key (`_keys`), sorted."""
    ids, hashes = one_row(conn.execute(
        sql.SQL("SELECT {}, {} FROM {} WHERE job = %s").format(
            nul_joined(sql.Identifier("consumer_id")), nul_joined(sql.Identifier("row_hash")),
            job.target.table("source_row"),
        ),
        [job.name],
        binary=True,
    ))
    pieces = [
        _keys(pl.DataFrame([some_ids, some_hashes]))
        for some_ids, some_hashes in zip(nul_chunks(ids, "consumer_id"), nul_chunks(hashes, "row_hash"))
    ]
    return np.sort(np.concatenate([np.empty(0, dtype=np.uint64), *pieces]))


def _keys(frame: pl.DataFrame) -> np.ndarray:
    """One 64-bit key per (consumer_id, row_hash). Two pairs with one key (odds 1 in 10^13 per changed row
    at a million stored) would skip a changed row; the window verification compares the hashes themselves
    and fails the run if so."""
    return frame.select(pl.struct("consumer_id", "row_hash").hash(seed=360)).to_series().to_numpy()


def contained(ordered: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Which of `wanted` are in the sorted `ordered`: a binary search each (np.isin sorts both every call)."""
    if not len(ordered):
        return np.zeros(len(wanted), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
    return ordered[at] == wanted


class ChangedRows:
    """One read of the source: key frames for the source keys, and the changed rows spilled for the main pass.

    `stored`: the keys of the rows loaded before (`stored_keys`); empty with --full-refresh (all changed)."""

    def __init__(self, job: JobConfig, source, rules: list[FieldRule], stored: np.ndarray) -> None:
        self.job, self.source, self.rules, self.stored = job, source, rules, stored
        self.id_rule, self.region = consumer_id_rule(rules), job.region_config()
        self._spill = tempfile.TemporaryDirectory(prefix="smart360-etl-changed-")
        self._pending: list[pl.DataFrame] = []
        self.files: list[Path] = []
        self.skipped = 0  # rows whose hash is the one loaded before
        self.late: list[str] = []  # duplicated ids with a skipped row (read again in the main pass)

    def key_frames(self, claims: AccountRules | None = None) -> Iterator[pl.DataFrame]:
        """The pass over the source: per batch, its ids and hashes (and account claims); spills the changed."""
        for batch, numbers in numbered_batches(self.job, self.source):
            keys = self._batch_keys(batch)
            same = self._unchanged(keys)
            self._keep(batch.filter(~same).with_columns(numbers.filter(~same).alias(NUMBER)))
            self.skipped += int(same.sum())
            yield keys.hstack(claimed_numbers(batch, claims)) if claims is not None else keys
        self._keep(None)

    def _batch_keys(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Each row's mapped consumer id and the hash of its source values."""
        return pl.DataFrame([map_field(batch, self.id_rule, self.region).alias("consumer_id"), row_hashes(batch)])

    def _unchanged(self, keys: pl.DataFrame) -> pl.Series:
        """True where the batch's (id, hash) is one the job loaded (a null id never is): a binary search
        of the sorted stored keys, a few milliseconds a batch."""
        if not len(self.stored):
            return pl.Series([False] * keys.height, dtype=pl.Boolean)
        found = contained(self.stored, _keys(keys))
        return pl.Series(found, dtype=pl.Boolean) & keys["consumer_id"].is_not_null()

    def _keep(self, rows: pl.DataFrame | None) -> None:
        """Spill changed rows, a batch's worth to a file (a few changed rows per source batch would make
        the main pass map many tiny batches); None: the end of the pass."""
        if rows is not None and rows.height:
            self._pending.append(rows)
        held, enough = sum(frame.height for frame in self._pending), self.job.source.batch_size or 25_000
        if held and (rows is None or held >= enough):
            path = Path(self._spill.name) / f"{len(self.files):06d}.arrow"
            # compressed: read back into memory that is freed with the batch, not mapped from the file
            pl.concat(self._pending, how="vertical_relaxed").write_ipc(path, compression="lz4")
            self.files.append(path)
            self._pending = []

    def find_late(self, conn: psycopg.Connection, duplicates: pl.Series) -> None:
        """The duplicated ids that had a row skipped: they are read again so that every row of theirs is
        rejected, as a full run would."""
        if not len(duplicates):
            return
        stored = conn.execute(  # by the key's index: a duplicated id was mostly rejected, never stored
            sql.SQL("SELECT consumer_id FROM {} WHERE job = %s AND consumer_id = ANY(%s)").format(
                self.job.target.table("source_row")
            ),
            [self.job.name, duplicates.to_list()],
        ).fetchall()
        if not stored:
            return
        rows = conn.execute(
            sql.SQL(
                "SELECT DISTINCT k.consumer_id FROM {keys} k JOIN {loaded} s ON s.job = %s "
                "AND s.consumer_id = k.consumer_id AND s.row_hash = k.row_hash WHERE k.consumer_id = ANY(%s)"
            ).format(keys=SOURCE_KEYS, loaded=self.job.target.table("source_row")),
            [self.job.name, [row[0] for row in stored]],
        ).fetchall()
        self.late = [row[0] for row in rows]
        if self.late:
            log.info("%d duplicated id(s) had rows unchanged since the last run: reading them again", len(self.late),
                     extra={"stage": "extract"})

    def numbered_batches(self) -> Iterator[Numbered]:
        """The changed rows, batch by batch with their source row numbers; then the late ids' skipped rows."""
        try:
            for path in self.files:
                spilled = pl.read_ipc(path)
                yield spilled.drop(NUMBER), spilled[NUMBER]
            if self.late:
                yield from self._late_rows()
        finally:
            self._spill.cleanup()

    def _late_rows(self) -> Iterator[Numbered]:
        """The rows skipped as unchanged whose id occurs twice, from a second read of the source."""
        late = pl.Series(self.late, dtype=pl.String)
        for batch, numbers in numbered_batches(self.job, self.source):
            keys = self._batch_keys(batch)
            wanted = keys["consumer_id"].is_in(late.implode()).fill_null(False) & self._unchanged(keys)
            if wanted.any():
                self.skipped -= int(wanted.sum())
                yield batch.filter(wanted), numbers.filter(wanted)

    def close(self) -> None:
        self._spill.cleanup()

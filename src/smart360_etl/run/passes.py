"""The two passes over the source: the narrow id pass (ids, row hashes, account claims), and the main pass
that maps each batch while the background writer loads the one before."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import polars as pl

from ..config import JobConfig
from ..load.consumers import ConsumerLoader
from ..load.entities import EntityLoader
from ..load.source_keys import SourceKeys
from ..mapping.accounts import AccountRules, claimed_numbers
from ..mapping.fields import consumer_id_rule
from ..mapping.mapper import map_batch, map_field
from ..mapping.text import row_hashes
from .background import BackgroundWriter
from .changes import ChangedRows, numbered_batches
from .context import RunContext

log = logging.getLogger("smart360_etl")


def id_batches(job: JobConfig, source, rules, whole: bool = False) -> Iterator[pl.Series]:
    """A narrow pass over the source's id column (same snapshot as the main pass), mapped; `whole` reads
    past an incremental window."""
    id_rule, region = consumer_id_rule(rules), job.region_config()
    if hasattr(source, "column_text"):  # a database source that can send one column in one piece
        for values in source.column_text(id_rule.column, job.source.batch_size or 25_000, whole=whole):
            yield map_field(values.to_frame(), id_rule, region)
        return
    for batch in source.batches(job.source.batch_size, columns=[id_rule.column], whole=whole):
        yield map_field(batch, id_rule, region)


def key_frames(
    job: JobConfig, source, rules, hashed: bool, whole: bool = False, claims: AccountRules | None = None
) -> Iterator[pl.DataFrame]:
    """The first pass as frames of `consumer_id`; for incremental runs with `row_hash` (of the whole row);
    with `claims`, with the `account_number` and `meter_number` (a list) each record claims."""
    id_rule, region = consumer_id_rule(rules), job.region_config()
    columns = [id_rule.column]
    if claims is not None:
        columns += [claims.columns["account_number"], claims.columns["meter_number"]]
    for batch in source.batches(
        job.source.batch_size, columns=None if hashed else list(dict.fromkeys(columns)), whole=whole
    ):
        parts = [map_field(batch, id_rule, region).alias("consumer_id")]
        if hashed:
            parts.append(row_hashes(batch))
        frame = pl.DataFrame(parts)
        yield frame.hstack(claimed_numbers(batch, claims)) if claims is not None else frame


def main_pass(
    run: RunContext,
    keys: SourceKeys,
    loader: ConsumerLoader,
    changed: ChangedRows | None = None,
    accounts: AccountRules | None = None,
    entities: EntityLoader | None = None,
) -> int:
    """The main pass: map each batch and hand it to the loader (which works on it while the next is mapped);
    returns the source rows it accounts for.

    `changed` (compare mode) holds the rows that changed since the last run: only they are mapped; the
    unchanged ones are counted as skipped.
    """
    job, rules, region, on_progress = run.job, run.rules, run.region, run.on_progress
    done = 0
    total = keys.rows if changed is None else keys.rows - changed.skipped  # the rows to map

    def load(mapped: pl.DataFrame) -> None:  # in dependency order: consumers, then their accounts
        loader.load(mapped)
        if entities is not None:
            entities.load(mapped)

    batches = numbered_batches(job, run.source) if changed is None else changed.numbered_batches()
    with BackgroundWriter(load) as loading:
        for batch, numbers in batches:
            loading.submit(
                map_batch(
                    batch,
                    rules,
                    region,
                    job.disposition,
                    duplicate_ids=keys.duplicates,
                    row_numbers=numbers,
                    accounts=accounts,
                    conflicts=keys.conflicts,
                )
            )
            done += batch.height
            log.info("mapped %d rows", done, extra={"stage": "load", "rows": done})
            if on_progress:
                on_progress("loading rows", done, total)
    if changed is not None:
        loader.counts.skipped += changed.skipped
        done += changed.skipped
    return done

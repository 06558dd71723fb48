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
from ..mapping.fields import FieldRule
from ..mapping.mapper import map_batch, map_field
from ..mapping.text import hash_rows
from .background import BackgroundWriter
from .context import RunContext

log = logging.getLogger("smart360_etl")


def consumer_id_rule(rules: list[FieldRule]) -> FieldRule:
    return next(rule for rule in rules if rule.target == "consumer_id")


def id_batches(job: JobConfig, source, rules, whole: bool = False) -> Iterator[pl.Series]:
    """A narrow pass over the source's id column (same snapshot as the main pass), mapped; `whole` reads
    past an incremental window."""
    id_rule, region = consumer_id_rule(rules), job.region_config()
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
            parts.append(hash_rows(batch))
        frame = pl.DataFrame(parts)
        yield frame.hstack(claimed_numbers(batch, claims)) if claims is not None else frame


def main_pass(
    run: RunContext,
    keys: SourceKeys,
    loader: ConsumerLoader,
    skip: pl.Series | None = None,
    accounts: AccountRules | None = None,
    entities: EntityLoader | None = None,
) -> int:
    """The main pass: map each batch and hand it to the loader (which works on it while the next is mapped).

    `skip` (compare mode) holds ids whose source row is unchanged: they are counted, not mapped or written.
    """
    job, source, rules, region, on_progress = run.job, run.source, run.rules, run.region, run.on_progress
    total, done = keys.rows, 0
    id_rule = consumer_id_rule(rules)

    def load(mapped: pl.DataFrame) -> None:  # in dependency order: consumers, then their accounts
        loader.load(mapped)
        if entities is not None:
            entities.load(mapped)

    with BackgroundWriter(load) as loading:
        for batch in source.batches(job.source.batch_size):
            height = batch.height
            numbers = pl.int_range(done + 1, done + 1 + height, dtype=pl.Int64, eager=True)
            if skip is not None and len(skip):
                keep = ~map_field(batch, id_rule, region).is_in(skip.implode()).fill_null(False)
                loader.counts.skipped += height - int(keep.sum())
                batch, numbers = batch.filter(keep), numbers.filter(keep)
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
            done += height
            log.info("mapped %d rows", done, extra={"stage": "load", "rows": done})
            if on_progress:
                on_progress("loading rows", done, total)
    return done

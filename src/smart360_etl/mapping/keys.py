"""Consumer ids that occur more than once in the whole source, found before any row is mapped.

Knowing them up front lets each batch be loaded on its own: every copy of a duplicated id is rejected
in the batch it arrives in, so nothing loaded early ever has to be taken back.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ..regions import Region
from .fields import FieldRule
from .mapper import map_field


def source_ids(id_batches: Iterable[pl.DataFrame], rule: FieldRule, region: Region) -> pl.Series:
    """Every consumer id of the source, after the id field's own transform; nulls are not ids."""
    ids = [map_field(batch, rule, region).drop_nulls() for batch in id_batches]
    return pl.concat(ids).alias("consumer_id") if ids else pl.Series("consumer_id", [], dtype=pl.String)


def duplicate_ids(ids: pl.Series) -> pl.Series:
    """The ids seen more than once."""
    return ids.filter(ids.is_duplicated()).unique()

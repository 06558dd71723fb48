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


def duplicate_ids(id_batches: Iterable[pl.DataFrame], rule: FieldRule, region: Region) -> pl.Series:
    """The ids (after the id field's own transform) seen more than once; nulls are not ids."""
    ids = [map_field(batch, rule, region).drop_nulls() for batch in id_batches]
    if not ids:
        return pl.Series("consumer_id", [], dtype=pl.String)
    every = pl.concat(ids)
    return every.filter(every.is_duplicated()).unique().alias("consumer_id")

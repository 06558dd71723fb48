"""Consumer ids that occur more than once, found before any row is mapped (in memory, for a preview;
a run does the same in the target database, see load/source_keys.py).

Knowing them up front lets each batch be loaded on its own: every copy of a duplicated id is rejected
in the batch it arrives in, so nothing loaded early ever has to be taken back.
"""

from __future__ import annotations

import polars as pl


def duplicate_ids(ids: pl.Series) -> pl.Series:
    """The ids seen more than once."""
    return ids.filter(ids.is_duplicated()).unique()

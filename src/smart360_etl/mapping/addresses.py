"""Free-text address -> line 1, line 2, city, state, postal code.

Cleaning, the region's country at the end and placeholders are handled here, vectorised; each distinct
address is then parsed once by the region's grammar (address_grammar.py), and state and postal code are
put in their standard form. Nothing is assigned by position: "123 Main St" keeps city, state and zip empty.
"""

from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from ..regions import Region
from .address_grammar import AddressGrammar
from .address_shapes import plain_shapes
from .address_words import phrase_key
from .text import PLACEHOLDERS, by_unique, clean

PARTS = ("line_1", "line_2", "city", "state", "zip_code")
_PARSED = pl.Struct({part: pl.String for part in (*PARTS, "reason")})


def parse_addresses(addresses: pl.Series, region: Region, fast: bool = True) -> pl.DataFrame:
    """Parse a column of addresses; returns PARTS plus `reason` (a soft problem found, or null).

    `fast` splits the commonest plain shapes vectorised (address_shapes.py), where no word of them needs
    the grammar's judgement; the grammar gives the same parts for them (tested), and parses the rest."""
    frame = addresses.to_frame("raw").select(_without_country(clean(pl.col("raw")), region).alias("a"))
    # "N/A" or "unknown" is no address: no line 1 (address_unparsed), rather than a line 1 that says so.
    text = frame.select(pl.when(~pl.col("a").str.to_lowercase().is_in(PLACEHOLDERS)).then(pl.col("a")))["a"]
    quick = plain_shapes(text, region) if fast else None
    rest = text if quick is None else pl.select(pl.when(quick["line_1"].is_null()).then(text)).to_series()
    parsed = by_unique(rest, _cached_parser(region.model_dump_json()), _PARSED).struct.unnest()
    if quick is not None:
        decided = quick["line_1"].is_not_null()
        parsed = parsed.select(
            pl.when(pl.lit(decided)).then(quick[c]).otherwise(pl.col(c)).alias(c) for c in parsed.columns
        )
    return parsed.select(
        pl.col("line_1"),
        pl.col("line_2"),
        pl.col("city"),
        _state_code(pl.col("state"), region).alias("state"),
        _normalise_postal(pl.col("zip_code")).alias("zip_code"),
        pl.col("reason"),
    )


@lru_cache(maxsize=8)
def _cached_parser(region_json: str):
    """One grammar per region setting, with its parses cached across batches (addresses repeat)."""
    grammar = AddressGrammar(Region.model_validate_json(region_json))
    return lru_cache(maxsize=200_000)(grammar.parse)


def _without_country(text: pl.Expr, region: Region) -> pl.Expr:
    """The region's own country dropped from the end ("..., IL 62701, USA"), where a comma or a postal code
    precedes it: "12 Prince of Wales" keeps its Wales."""
    if not region.country_names:
        return text
    names = "|".join(re.escape(n) for n in sorted(region.country_names, key=len, reverse=True))
    return text.str.replace(rf"(?i)(?:\s*,\s*|(?P<postal>\b{region.postal})\s+)(?:{names})\.?$", "${postal}")


def _state_code(state: pl.Expr, region: Region) -> pl.Expr:
    """A state's name or code in any case as its code ('illinois', 'Il.' -> 'IL'); a county as written."""
    lookup = {phrase_key(name.split()): code for name, code in region.state_lookup().items()}
    key = state.str.normalize("NFKD").str.replace_all(r"\p{M}|[.()]", "").str.to_uppercase()
    key = key.str.replace_all(r"\s+", " ")
    return pl.when(key.is_in(list(lookup))).then(key.replace(lookup)).otherwise(state)


def _normalise_postal(postal: pl.Expr) -> pl.Expr:
    """Digits stay compact ("400 001" -> "400001"); lettered codes get the inward-code space (GB, CA)."""
    compact = postal.str.replace_all(" ", "").str.to_uppercase()
    return pl.when(compact.str.contains("[A-Z]")).then(compact.str.replace(r"^(.*)(.{3})$", "$1 $2")).otherwise(compact)

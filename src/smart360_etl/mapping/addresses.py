"""Free-text address -> line 1, line 2, city, state, postal code; vectorised, parsed from the right.

Nothing is assigned by position: a postal code is taken only where the region's shape fits it, a
state only where the region knows it, a city only between a street and a state or postal code.
"123 Main St" keeps city, state and zip empty. Units (Apt, Suite, Unit, #, Flat...) go to line 2.
"""

from __future__ import annotations

import re

import polars as pl

from ..regions import Region
from .text import clean

PARTS = ("line_1", "line_2", "city", "state", "zip_code")

_UNIT_WORD = r"(?:apartment|apt|suite|ste|unit|flat|floor|fl|room|rm|building|bldg|lot|trlr|#)"
_UNIT = rf"{_UNIT_WORD}\.?\s*#?\s*[A-Za-z0-9][A-Za-z0-9\-]*"
_SEP = r"(?:\s*,\s*|\s+)"
_STREET_TYPES = (
    "street st avenue ave av road rd boulevard blvd drive dr lane ln court ct way place pl terrace ter "
    "circle cir parkway pkwy highway hwy square sq loop trail trl crescent cres close row walk grove "
    "gardens gdns mews esplanade esp parade pde marg nagar path pike plaza"
).split()
_AFTER_STREET = rf"(?i)^(?P<street>.*\b(?:{'|'.join(_STREET_TYPES)})\.?(?:\s+{_UNIT})?),?\s+(?P<city>[A-Za-z][A-Za-z .'\-]*)$"


def parse_addresses(addresses: pl.Series, region: Region) -> pl.DataFrame:
    """Parse a column of addresses; returns PARTS plus `reason` (a soft problem found, or null)."""
    frame = addresses.to_frame("raw").select(clean(pl.col("raw")).alias("a"))
    frame = _take_postal_and_state(frame, region)
    frame = _take_city(frame)
    frame = _take_unit(frame)
    line_1 = pl.col("street").str.strip_chars(" ,")
    return frame.select(
        pl.when(line_1.str.contains(r"[A-Za-z0-9]")).then(line_1).alias("line_1"),
        pl.col("line_2"),
        pl.col("city"),
        pl.col("state").str.to_uppercase().replace(region.state_lookup()).alias("state"),
        _normalise_postal(pl.col("zip_code")).alias("zip_code"),
        pl.col("reason"),
    )


def _state_pattern(region: Region) -> str:
    names = sorted(region.state_lookup(), key=len, reverse=True)
    return "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in names) or r"(?!)"


def _take_postal_and_state(frame: pl.DataFrame, region: Region) -> pl.DataFrame:
    states = _state_pattern(region) if region.states else "[^\\s\\S]"
    codes = "|".join(re.escape(c) for c in sorted(region.states, key=len, reverse=True)) or "[^\\s\\S]"
    a = pl.col("a")
    postal = a.str.extract_groups(rf"(?i)^(?P<rest>.*?)(?P<sep>{_SEP})(?P<zip>{region.postal})$")
    state_then_postal = postal.struct["rest"].str.extract_groups(rf"(?i)^(?P<rest>.*?){_SEP}(?P<state>{states})\.?$")
    state_only = a.str.extract_groups(rf"(?i)^(?P<rest>.*?)\s*,\s*(?P<state>{codes})\.?$")
    bad_postal = a.str.extract_groups(
        rf"(?i)^(?P<rest>.*?){_SEP}(?P<state>{states})\.?{_SEP}(?P<bad>\d[\dA-Za-z\-]*(?:\s+\d+)?)$"
    )
    bad_state = postal.struct["rest"].str.extract_groups(rf"^(?P<rest>.*?){_SEP}(?P<bad>[A-Z]{{2,3}})$")
    has_postal = postal.struct["zip"].is_not_null()
    has_state = state_then_postal.struct["state"].is_not_null()
    may_flag_state = pl.lit(bool(region.states)) & bad_state.struct["bad"].is_not_null()
    in_context = has_state | may_flag_state | postal.struct["sep"].str.contains(",")
    postal_ok = has_postal & (in_context | ~pl.lit(region.postal_needs_context))
    return frame.with_columns(
        pl.when(postal_ok & has_state).then(state_then_postal.struct["rest"])
        .when(postal_ok & may_flag_state).then(bad_state.struct["rest"])
        .when(postal_ok).then(postal.struct["rest"])
        .when(bad_postal.struct["state"].is_not_null()).then(bad_postal.struct["rest"])
        .when(state_only.struct["state"].is_not_null()).then(state_only.struct["rest"])
        .otherwise(a).alias("rest"),
        pl.when(postal_ok).then(postal.struct["zip"]).alias("zip_code"),
        pl.when(postal_ok).then(state_then_postal.struct["state"])
        .when(bad_postal.struct["state"].is_not_null()).then(bad_postal.struct["state"])
        .otherwise(state_only.struct["state"]).alias("state"),
        pl.when(postal_ok & ~has_state & may_flag_state).then(pl.lit("state_invalid"))
        .when(~postal_ok & bad_postal.struct["state"].is_not_null()).then(pl.lit("postal_code_invalid"))
        .alias("reason"),
    )


def _take_city(frame: pl.DataFrame) -> pl.DataFrame:
    located = pl.col("zip_code").is_not_null() | pl.col("state").is_not_null() | (pl.col("reason") == "state_invalid")
    rest = pl.col("rest")
    by_comma = rest.str.extract_groups(r"^(?P<street>.*?)\s*,\s*(?P<city>[^,]*)$")
    by_street = rest.str.extract_groups(_AFTER_STREET)
    comma_city = by_comma.struct["city"]
    usable_comma = comma_city.is_not_null() & ~comma_city.str.contains(rf"(?i)^{_UNIT}$") & (comma_city != "")
    return frame.with_columns(
        pl.when(located & usable_comma).then(by_comma.struct["street"])
        .when(located & by_street.struct["city"].is_not_null()).then(by_street.struct["street"])
        .otherwise(rest).alias("street"),
        pl.when(located & usable_comma).then(comma_city)
        .when(located).then(by_street.struct["city"]).alias("city"),
    ).with_columns(
        pl.when(located & pl.col("city").is_null() & pl.col("reason").is_null())
        .then(pl.lit("address_ambiguous")).otherwise(pl.col("reason")).alias("reason")
    )


def _take_unit(frame: pl.DataFrame) -> pl.DataFrame:
    street = pl.col("street")
    trailing = street.str.extract_groups(rf"(?i)^(?P<line>.*?\S){_SEP}(?P<unit>{_UNIT})$")
    leading = street.str.extract_groups(rf"(?i)^(?P<unit>{_UNIT}){_SEP}(?P<line>.*\S)$")
    return frame.with_columns(
        pl.when(trailing.struct["unit"].is_not_null()).then(trailing.struct["line"])
        .when(leading.struct["unit"].is_not_null()).then(leading.struct["line"])
        .otherwise(street).alias("street"),
        pl.coalesce(trailing.struct["unit"], leading.struct["unit"]).alias("line_2"),
    )


def _normalise_postal(postal: pl.Expr) -> pl.Expr:
    """Digits stay compact ("400 001" -> "400001"); lettered codes get the inward-code space (GB, CA)."""
    compact = postal.str.replace_all(" ", "").str.to_uppercase()
    return pl.when(compact.str.contains("[A-Z]")).then(compact.str.replace(r"^(.*)(.{3})$", "$1 $2")).otherwise(compact)

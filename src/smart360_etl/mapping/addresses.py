"""Free-text address -> line 1, line 2, city, state, postal code; vectorised, parsed from the right.

Nothing is assigned by position: a postal code is taken only where the region's shape fits it, a
state only where the region knows it, a city only between a street and a state or postal code.
"123 Main St" keeps city, state and zip empty. Units (Apt, Suite, Unit, #, Flat...) go to line 2.
"""

from __future__ import annotations

import re

import polars as pl

from ..regions import Region
from .text import PLACEHOLDERS, clean

PARTS = ("line_1", "line_2", "city", "state", "zip_code")

_UNIT_WORD = r"(?:apartment|apt|suite|ste|unit|flat|floor|fl|room|rm|building|bldg|lot|trlr|#)"
_UNIT = rf"{_UNIT_WORD}\.?\s*#?\s*[A-Za-z0-9][A-Za-z0-9\-]*"
_SEP = r"(?:\s*,\s*|\s+)"
_STREET_TYPES = (
    "street st avenue ave av road rd boulevard blvd drive dr lane ln court ct way place pl terrace ter "
    "circle cir parkway pkwy highway hwy square sq loop trail trl crescent cres close row walk grove "
    "gardens gdns mews esplanade esp parade pde marg nagar path pike plaza"
).split()
_AFTER_STREET = (
    rf"(?i)^(?P<street>.*\b(?:{'|'.join(_STREET_TYPES)})\.?(?:\s+{_UNIT})?),?\s+(?P<city>[A-Za-z][A-Za-z .'\-]*)$"
)


def parse_addresses(addresses: pl.Series, region: Region) -> pl.DataFrame:
    """Parse a column of addresses; returns PARTS plus `reason` (a soft problem found, or null)."""
    frame = addresses.to_frame("raw").select(_without_country(clean(pl.col("raw")), region).alias("a"))
    # "N/A" or "unknown" is no address: no line 1 (address_unparsed), rather than a line 1 that says so.
    frame = frame.with_columns(pl.when(~pl.col("a").str.to_lowercase().is_in(PLACEHOLDERS)).then(pl.col("a")))
    frame = _take_postal_and_state(frame, region)
    frame = _take_city(frame)
    frame = _take_unit(frame)
    line_1 = pl.col("street").str.strip_chars(" ,")
    return frame.select(
        pl.when(line_1.str.contains(r"[A-Za-z0-9]")).then(line_1).alias("line_1"),
        pl.col("line_2"),
        pl.col("city"),
        pl.col("state").str.to_uppercase().str.replace_all(r"\s+", " ").replace(region.state_lookup()).alias("state"),
        _normalise_postal(pl.col("zip_code")).alias("zip_code"),
        pl.col("reason"),
    )


def _without_country(text: pl.Expr, region: Region) -> pl.Expr:
    """The region's own country dropped from the end ("..., IL 62701, USA"), where a comma or a postal code
    precedes it: "12 Prince of Wales" keeps its Wales."""
    if not region.country_names:
        return text
    names = "|".join(re.escape(n) for n in sorted(region.country_names, key=len, reverse=True))
    return text.str.replace(rf"(?i)(?:\s*,\s*|(?P<postal>\b{region.postal})\s+)(?:{names})\.?$", "${postal}")


# Patterns match at the end of the text only: the regex engine then scans backwards from the end,
# which is many times faster than capturing "everything before" with a leading `^(.*?)`.
def _tail(text: pl.Expr, pattern: str) -> pl.Expr:
    """A struct of the pattern's groups, matched at the end of `text`, plus `whole` (the full match)."""
    return text.str.extract_groups(rf"(?P<whole>{pattern})$")


def _before(text: pl.Expr, match: str) -> pl.Expr:
    """`text` without the tail that the struct column `match` matched."""
    return text.str.head(text.str.len_chars() - pl.col(match).struct["whole"].str.len_chars())


def _state_pattern(region: Region, names_only: bool = False) -> str:
    names = sorted(region.states.values() if names_only else region.state_lookup(), key=len, reverse=True)
    return "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in names) or _NOTHING


_NOTHING = r"[^\s\S]"


def _take_postal_and_state(frame: pl.DataFrame, region: Region) -> pl.DataFrame:
    states = _state_pattern(region) if region.states else _NOTHING
    codes = "|".join(re.escape(c) for c in sorted(region.states, key=len, reverse=True)) or _NOTHING
    spaced = rf"{codes}|(?i:{_state_pattern(region, names_only=True)})"  # codes in capitals, names in any case
    a = pl.col("a")
    frame = frame.with_columns(postal=_tail(a, rf"(?i)(?P<sep>{_SEP})(?P<zip>{region.postal})"))
    postal = pl.col("postal").struct
    frame = frame.with_columns(after_postal=_before(a, "postal"))
    frame = frame.with_columns(
        state=_tail(pl.col("after_postal"), rf"(?i){_SEP}(?P<state>{states})\.?"),
        bad_state=_tail(pl.col("after_postal"), rf"{_SEP}(?P<bad>[A-Z]{{2,3}})"),
        state_only=_tail(pl.when(postal["zip"].is_null()).then(a), rf"(?i)\s*,\s*(?P<state>{codes})\.?"),
        # "12 Oak St, Austin TX" (no postal code, no comma before the state): only a state code in capitals
        # or a state's name, and only after a city in the part after a comma: "12 Elm Ct" keeps its Court.
        state_spaced=_tail(
            pl.when(postal["zip"].is_null() & a.str.contains(rf",[^,]*[^\s,]\s+(?:{spaced})\.?$")).then(a),
            rf"\s+(?P<state>{spaced})\.?",
        ),
        bad_postal=_tail(
            pl.when(postal["zip"].is_null()).then(a),
            rf"(?i){_SEP}(?P<state>{states})\.?{_SEP}(?P<bad>\d[\dA-Za-z\-]*(?:\s+\d+)?)",
        ),
    )
    state, bad_state, state_only, bad_postal, state_spaced = (
        pl.col(c).struct for c in ("state", "bad_state", "state_only", "bad_postal", "state_spaced")
    )
    has_state = state["state"].is_not_null()
    may_flag_state = pl.lit(bool(region.states)) & bad_state["bad"].is_not_null()
    in_context = has_state | may_flag_state | postal["sep"].str.contains(",")
    frame = frame.with_columns(
        postal_ok=postal["zip"].is_not_null() & (in_context | ~pl.lit(region.postal_needs_context)),
        flag_state=may_flag_state & ~has_state,
        postal_bad=bad_postal["state"].is_not_null(),
    )
    postal_ok, flag_state, postal_bad = pl.col("postal_ok"), pl.col("flag_state"), pl.col("postal_bad")
    after_postal = pl.col("after_postal")
    return frame.select(
        pl.when(postal_ok & has_state)
        .then(_before(after_postal, "state"))
        .when(postal_ok & flag_state)
        .then(_before(after_postal, "bad_state"))
        .when(postal_ok)
        .then(after_postal)
        .when(postal_bad)
        .then(_before(a, "bad_postal"))
        .when(state_only["state"].is_not_null())
        .then(_before(a, "state_only"))
        .when(state_spaced["state"].is_not_null())
        .then(_before(a, "state_spaced"))
        .otherwise(a)
        .alias("rest"),
        pl.when(postal_ok).then(postal["zip"]).alias("zip_code"),
        pl.when(postal_ok)
        .then(state["state"])
        .when(postal_bad)
        .then(bad_postal["state"])
        .otherwise(pl.coalesce(state_only["state"], state_spaced["state"]))
        .alias("state"),
        pl.when(postal_ok & flag_state)
        .then(pl.lit("state_invalid"))
        .when(~postal_ok & postal_bad)
        .then(pl.lit("postal_code_invalid"))
        .alias("reason"),
    )


def _take_city(frame: pl.DataFrame) -> pl.DataFrame:
    located = pl.col("zip_code").is_not_null() | pl.col("state").is_not_null() | (pl.col("reason") == "state_invalid")
    frame = frame.with_columns(located=located)
    located = pl.col("located")
    frame = frame.with_columns(by_comma=_tail(pl.when(located).then(pl.col("rest")), r"\s*,\s*(?P<city>[^,]*)"))
    comma_part = pl.col("by_comma").struct["city"]
    # "12 Elm St, Apt 4 Springfield IL": the part after the last comma starts with the unit.
    frame = frame.with_columns(unit_first=comma_part.str.extract_groups(rf"(?i)^(?P<unit>{_UNIT})\s+(?P<city>\S.*)$"))
    unit_first = pl.col("unit_first").struct
    city = pl.coalesce(unit_first["city"], comma_part)
    frame = frame.with_columns(
        usable_comma=located & city.is_not_null() & (city != "") & ~city.str.contains(rf"(?i)^{_UNIT}$"),
        comma_city=city,
    )
    usable_comma = pl.col("usable_comma")
    # Without commas the city starts after the last street type ("... Oak Ave Springfield IL"): rarer, slower.
    frame = frame.with_columns(
        by_street=pl.when(located & ~usable_comma).then(pl.col("rest")).str.extract_groups(_AFTER_STREET)
    )
    by_street = pl.col("by_street").struct
    street_before_comma = _before(pl.col("rest"), "by_comma")
    return frame.select(
        pl.when(usable_comma & unit_first["unit"].is_not_null())
        .then(pl.concat_str([street_before_comma, unit_first["unit"]], separator=", "))
        .when(usable_comma)
        .then(street_before_comma)
        .when(by_street["city"].is_not_null())
        .then(by_street["street"])
        .otherwise(pl.col("rest"))
        .alias("street"),
        pl.when(usable_comma).then(pl.col("comma_city")).otherwise(by_street["city"]).alias("city"),
        "state",
        "zip_code",
        pl.when(located & ~usable_comma & by_street["city"].is_null() & pl.col("reason").is_null())
        .then(pl.lit("address_ambiguous"))
        .otherwise(pl.col("reason"))
        .alias("reason"),
    )


def _take_unit(frame: pl.DataFrame) -> pl.DataFrame:
    street = pl.col("street")
    frame = frame.with_columns(
        trailing=_tail(street, rf"(?i)(?P<sep>{_SEP})(?P<unit>{_UNIT})"),
        leading=street.str.extract_groups(rf"(?i)^(?P<whole>(?P<unit>{_UNIT}){_SEP})\S"),
    )
    trailing, leading = pl.col("trailing").struct, pl.col("leading").struct
    trimmed = _before(street, "trailing")
    return frame.select(
        pl.when(trailing["unit"].is_not_null() & trimmed.str.contains(r"\S"))
        .then(trimmed)
        .when(leading["unit"].is_not_null())
        .then(street.str.slice(leading["whole"].str.len_chars()))
        .otherwise(street)
        .alias("street"),
        pl.when(trailing["unit"].is_not_null() & trimmed.str.contains(r"\S"))
        .then(trailing["unit"])
        .otherwise(leading["unit"])
        .alias("line_2"),
        "city",
        "state",
        "zip_code",
        "reason",
    )


def _normalise_postal(postal: pl.Expr) -> pl.Expr:
    """Digits stay compact ("400 001" -> "400001"); lettered codes get the inward-code space (GB, CA)."""
    compact = postal.str.replace_all(" ", "").str.to_uppercase()
    return pl.when(compact.str.contains("[A-Z]")).then(compact.str.replace(r"^(.*)(.{3})$", "$1 $2")).otherwise(compact)

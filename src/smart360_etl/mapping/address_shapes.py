"""The commonest address shapes, split vectorised for exactly the rows the grammar would read the same way.

Most rows of a real export are in one of a few shapes; parsing them one by one in Python (address_grammar.py,
~80 us each) would dominate the mapping. Here they are split by polars expressions, with the grammar's own
rules restricted to the cases where no judgement is needed:

- a street alone that ends in a street type ("12 Oak St");
- "street[ unit][, unit], city, ST postal" ("12 Oak St Apt 3, Springfield, IL 62704");
- without commas, "street unit city ST postal" ("12 Oak St Apt 3 Springfield IL 62704");
- without commas, "street city ST postal" where the gazetteer names the last words a place of the postal
  code, or of the state right after a street type ("5567 Forest Street Albany NY 12272").

"Plain" parts hold no unit word, '#', '/', parenthesis, separator word or non-ASCII letter: every row with
anything the grammar would weigh is left to it (all parts null here). A property test holds the two
to the same parts on generated addresses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from ..regions import Region
from .address_words import AddressWords, address_words
from .places import SPELLED_OUT, places_for

_MAX_PLACE_WORDS = 6  # as the grammar's
# Below this many rows the gazetteer's two look-up tables cost more to build (~15 ms) than the grammar takes.
GAZETTEER_MIN_ROWS = 200
_UNIT_ID = r"#?(?:\d+[A-Za-z]?|[A-Za-z]|[A-Za-z]?\d+-?[A-Za-z0-9]{0,4})"  # the grammar's, without '/'
_CITY = r"[A-Za-z][A-Za-z .'\-]*[A-Za-z.]"
_ORDINAL = r"(?i)(?:^|\s)(?:\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|ground|lower|upper|top)$"


def _alternatives(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@dataclass(frozen=True)
class _Patterns:
    not_plain: str  # a unit word, '#', '/', a parenthesis, a lone separator or a non-ASCII letter anywhere
    street_type_end: str
    unit: str  # a whole unit phrase ("Apt 3", "Ste. 200", "#4B")
    unit_end: str  # text, then a unit phrase at its end
    city: str
    state_postal: str
    unit_city_state_postal: str
    head_state_postal: str  # no commas: words, state, postal code
    unit_between: str  # a no-comma head: street, one unit, city

    @classmethod
    def of(cls, words: AddressWords, region: Region) -> _Patterns:
        unit_words = _alternatives(words.units | words.units_alone | words.floor_words)
        with_id = _alternatives(words.units | words.floor_words)
        unit = rf"(?:(?i:{with_id})\.? {_UNIT_ID}|#[A-Za-z0-9][A-Za-z0-9\-]*)"
        state_postal = rf"(?P<state>{_alternatives(region.states)}) (?P<zip_code>{region.postal})"
        return cls(
            not_plain=rf"(?i)(?:^|\s)(?:{unit_words})\.?(?:\s|,|$)|[#/(),]|(?:^|\s)[-–—|:;.]+(?:\s|$)|[^\x00-\x7f]",
            street_type_end=rf"(?i)\s(?:{_alternatives(words.street_types)})\.?$",
            unit=rf"^{unit}$",
            unit_end=rf"^(?P<line_1>.+?) (?P<line_2>{unit})$",
            city=rf"^{_CITY}$",
            state_postal=rf"^{state_postal}$",
            unit_city_state_postal=rf"^(?P<line_2>{unit}) (?P<city>{_CITY}) {state_postal}$",
            head_state_postal=rf"^(?P<head>.+) {state_postal}$",
            unit_between=rf"^(?P<line_1>.+?) (?P<line_2>{unit}) (?P<city>{_CITY})$",
        )


_PARTS = ("line_1", "line_2", "city", "state", "zip_code")


@lru_cache(maxsize=8)
def _setting(region_json: str) -> tuple[Region, AddressWords, _Patterns]:
    region = Region.model_validate_json(region_json)
    words = address_words(region.code, region.address_words)
    return region, words, _Patterns.of(words, region)


def plain_shapes(text: pl.Series, region: Region) -> pl.DataFrame:
    """line_1, line_2, city, state, zip_code and reason of the rows in a plain shape; all null elsewhere."""
    region, words, patterns = _setting(region.model_dump_json())
    frame = text.to_frame("a").with_row_index("row").filter(pl.col("a").is_not_null())
    frame = frame.with_columns(parts=pl.col("a").str.split(", ")).with_columns(n=pl.col("parts").list.len())
    shapes = [_street_alone, _street_and_unit]
    if region.states:
        shapes += [_comma_shape, _unit_then_city, _unit_between_shape, _gazetteer_shape]
    decided = []
    for shape in shapes:
        got = shape(frame, region, words, patterns).select("row", *_PARTS)
        decided.append(got)
        frame = frame.join(got.select("row"), on="row", how="anti")
    found = pl.concat(decided)
    every_row = pl.int_range(0, text.len(), dtype=pl.UInt32, eager=True).to_frame("row")
    looked_up = every_row.join(found, on="row", how="left", maintain_order="left")
    return looked_up.drop("row").with_columns(pl.lit(None, pl.String).alias("reason"))


def _plain(expr: pl.Expr, patterns: _Patterns) -> pl.Expr:
    return ~expr.str.contains(patterns.not_plain)


def _ok(frame: pl.DataFrame, condition: pl.Expr) -> pl.DataFrame:
    return frame.filter(condition.fill_null(False))


def _street_alone(frame: pl.DataFrame, region: Region, words: AddressWords, patterns: _Patterns):
    """"12 Oak St": a street alone that ends in a street type."""
    got = _ok(frame, (pl.col("n") == 1) & _plain(pl.col("a"), patterns) & pl.col("a").str.contains(
        patterns.street_type_end))
    return got.with_columns(pl.col("a").alias("line_1"), *(pl.lit(None, pl.String).alias(p) for p in _PARTS[1:]))


def _street_and_unit(frame: pl.DataFrame, region: Region, words: AddressWords, patterns: _Patterns):
    """"12 Oak St Apt 3", "12 Oak, Apt 3": a street and its unit, no city."""
    same = _ok(frame, pl.col("n") == 1).with_columns(pl.col("a").str.extract_groups(patterns.unit_end).alias("m"))
    same = _ok(same.unnest("m"), _plain(pl.col("line_1"), patterns) & pl.col("line_1").str.contains(
        patterns.street_type_end) & ~pl.col("line_1").str.contains(_ORDINAL))
    own = _ok(frame, (pl.col("n") == 2) & pl.col("parts").list.last().str.contains(patterns.unit))
    own = _ok(own.with_columns(line_1=pl.col("parts").list.first(), line_2=pl.col("parts").list.last()),
              _plain(pl.col("line_1"), patterns))
    both = pl.concat([same.select("row", "line_1", "line_2"), own.select("row", "line_1", "line_2")])
    # "12 Main, Fl 3", "12 NE, #4B" end like a state and a malformed postal code: the grammar's to read.
    state_words = {code.upper() for code in region.states} | {name.split()[-1].upper() for name in
                                                             region.states.values()}
    before_last = pl.col("a").str.replace_all(",", "", literal=True).str.extract(r"(\S+)\s+\S*\d\S*$")
    both = frame.select("row", "a").join(both, on="row")
    both = _ok(both, ~before_last.str.to_uppercase().str.replace_all(".", "", literal=True).is_in(
        list(state_words)).fill_null(False))
    return both.with_columns(*(pl.lit(None, pl.String).alias(p) for p in _PARTS[2:]))


def _comma_shape(frame: pl.DataFrame, region: Region, words: AddressWords, patterns: _Patterns):
    """"street[ unit][, unit], city, ST postal": the grammar takes the last part as the city and the unit
    at the end of the street's part (or a part of its own) as line 2."""
    got = _ok(frame, pl.col("n").is_in([3, 4])).with_columns(
        pl.col("parts").list.last().str.extract_groups(patterns.state_postal).alias("m"),
        city=pl.col("parts").list.get(-2),
        front=pl.col("parts").list.first(),
        own_unit=pl.when(pl.col("n") == 4).then(pl.col("parts").list.get(1)),
    ).unnest("m")
    got = _ok(got, pl.col("state").is_not_null() & pl.col("city").str.contains(patterns.city) & _plain(
        pl.col("city"), patterns))
    # A unit at the end of the street's part; "2nd Fl #3" is the grammar's to read (the ordinal joins it).
    split = pl.col("front").str.extract_groups(patterns.unit_end)
    got = got.with_columns(split.struct.field("line_1").alias("before_unit"), split.struct.field("line_2").alias("u"))
    in_front = pl.col("u").is_not_null() & (pl.col("n") == 3) & _plain(pl.col("before_unit"), patterns) & ~pl.col(
        "before_unit").str.contains(_ORDINAL)
    plain_front = _plain(pl.col("front"), patterns) & ((pl.col("n") == 3) | pl.col("own_unit").str.contains(
        patterns.unit))
    got = _ok(got, in_front | plain_front)
    return got.with_columns(
        pl.when(pl.col("u").is_not_null()).then(pl.col("before_unit")).otherwise(pl.col("front")).alias("line_1"),
        pl.coalesce("u", "own_unit").alias("line_2"),
    )


def _unit_then_city(frame: pl.DataFrame, region: Region, words: AddressWords, patterns: _Patterns):
    """"12 Elm St, Apt 4 Springfield IL 62704": a part that opens with a unit holds the city after it."""
    got = _ok(frame, pl.col("n") == 2).with_columns(
        pl.col("parts").list.last().str.extract_groups(patterns.unit_city_state_postal).alias("m"),
        line_1=pl.col("parts").list.first(),
    ).unnest("m")
    return _ok(got, pl.col("line_2").is_not_null() & _plain(pl.col("line_1"), patterns) & _plain(
        pl.col("city"), patterns))


def _no_comma_heads(frame: pl.DataFrame, patterns: _Patterns) -> pl.DataFrame:
    got = _ok(frame, pl.col("n") == 1).with_columns(pl.col("a").str.extract_groups(patterns.head_state_postal)
                                                     .alias("m"))
    return _ok(got.unnest("m"), pl.col("head").is_not_null())


def _unit_between_shape(frame: pl.DataFrame, region: Region, words: AddressWords, patterns: _Patterns):
    """"street unit city ST postal": a unit between street and city is the grammar's surest boundary."""
    heads = _no_comma_heads(frame, patterns)
    got = heads.with_columns(pl.col("head").str.extract_groups(patterns.unit_between).alias("m")).unnest("m")
    ok = (
        _plain(pl.col("line_1"), patterns)
        & _plain(pl.col("city"), patterns)
        & _has_name_word(pl.col("line_1"), words)
        & _may_begin_city(_first_key(pl.col("city")), words)
    )
    return _ok(got, ok)


def _gazetteer_shape(frame: pl.DataFrame, region: Region, words: AddressWords, patterns: _Patterns):
    """"street city ST postal": the longest run of last words that is a place of the postal code; or of the
    state where a street type ends the street before it (otherwise the grammar weighs the readings)."""
    known = _gazetteer(region.code)
    if known is None:
        return frame.clear().with_columns(pl.lit(None, pl.String).alias(p) for p in _PARTS)
    postal_places, state_places, longest = known
    heads = _no_comma_heads(frame, patterns)
    heads = _ok(heads, _plain(pl.col("head"), patterns) & ~pl.col("head").str.contains("-"))
    if heads.height < GAZETTEER_MIN_ROWS:
        return heads.clear().with_columns(pl.lit(None, pl.String).alias(p) for p in _PARTS)
    listed = heads.with_columns(
        w=pl.col("head").str.split(" "),
        keys=pl.col("head").str.to_uppercase().str.replace_all(".", "", literal=True).str.split(" "),
        zip5=pl.col("zip_code").str.slice(0, 5),
    ).with_columns(
        count=pl.col("w").list.len(),
        lead=_leading_numbers(pl.col("keys"), words),
        place=pl.col("keys").list.eval(pl.element().replace(SPELLED_OUT)),
    )
    # One row per (address, k): its last k words as a place; k = 0 asks whether the postal code is known.
    candidates = pl.concat(
        listed.select(
            "row",
            "zip5",
            "state",
            pl.lit(k).alias("k"),
            (pl.col("place").list.slice(-k, k).list.join(" ") if k else pl.lit("")).alias("tail"),
            _after_type(pl.col("count") - k, words).alias("after_type"),
            ((pl.col("count") - k >= 1) & (pl.col("count") - k > pl.col("lead"))).alias("possible"),
        )
        for k in range(0, min(_MAX_PLACE_WORDS, longest) + 1)
    )
    candidates = candidates.filter(pl.col("possible") | (pl.col("k") == 0)).with_columns(
        of_postal=pl.concat_str("zip5", pl.lit("|"), "tail").is_in(postal_places.implode()),
        of_state=pl.concat_str("state", pl.lit("|"), "tail").is_in(state_places.implode()),
    )
    decided = candidates.group_by("row").agg(
        by_postal=pl.col("of_postal").filter(pl.col("k") == 0).any(),
        postal_k=pl.col("k").filter(pl.col("of_postal") & (pl.col("k") > 0)).max(),
        state_k=pl.col("k").filter(pl.col("of_state") & pl.col("after_type") & (pl.col("k") > 0)).max(),
        # A place of the state where the street's end is for the grammar to weigh: nothing longer is ours.
        unsure_k=pl.col("k").filter(pl.col("of_state") & ~pl.col("after_type") & (pl.col("k") > 0)).max(),
    ).with_columns(
        chosen=pl.when(pl.col("by_postal")).then("postal_k").when(
            pl.col("unsure_k").is_null() | (pl.col("unsure_k") < pl.col("state_k"))).then("state_k")
    )
    kept = listed.join(_ok(decided, pl.col("chosen").is_not_null()).select("row", "chosen"), on="row")
    return kept.with_columns(
        pl.col("w").list.head(pl.col("count") - pl.col("chosen")).list.join(" ").alias("line_1"),
        pl.lit(None, pl.String).alias("line_2"),
        pl.col("w").list.tail(pl.col("chosen")).list.join(" ").alias("city"),
    )


def _after_type(b: pl.Expr, words: AddressWords) -> pl.Expr:
    """Whether the street can end before word `b` by a street type and a city begin at it (the grammar's
    street ends where it matters for a place of the state)."""
    return (
        pl.col("keys").list.get(b - 1, null_on_oob=True).is_in(list(words.street_types))
        & (b - 1 > pl.col("lead"))
        & _may_begin_city(pl.col("keys").list.get(b, null_on_oob=True), words)
    ).fill_null(False)


def _first_key(text: pl.Expr) -> pl.Expr:
    """The grammar's word key of the first word (plain text: upper case, no dots)."""
    return text.str.extract(r"^(\S+)").str.to_uppercase().str.replace_all(".", "", literal=True)


def _leading_numbers(keys: pl.Expr, words: AddressWords) -> pl.Expr:
    """How many words the house number takes at the start (the grammar's `_name_start`)."""
    numeric = pl.element().str.contains(r"\d") | pl.element().is_in(list(words.house_number_words))
    return keys.list.eval(numeric.cast(pl.Int32).cum_min()).list.sum()


def _has_name_word(street: pl.Expr, words: AddressWords) -> pl.Expr:
    keys = street.str.to_uppercase().str.replace_all(".", "", literal=True).str.split(" ")
    return _leading_numbers(keys, words) < keys.list.len()


def _may_begin_city(key: pl.Expr, words: AddressWords) -> pl.Expr:
    """The grammar's `_city_may_start` on a word key."""
    never = words.street_only | words.directional_abbreviations | words.units | words.units_alone
    return ~key.str.contains(r"^\d") & ~key.is_in(list(never))


@lru_cache(maxsize=8)
def _gazetteer(region_code: str) -> tuple[pl.Series, pl.Series, int] | None:
    """("postal|place" and "state|place" keys, the most words of a place) of the region's gazetteer, or None;
    "postal|" says the postal code is known."""
    places = places_for(region_code)
    if not places.by_postal:
        return None
    postal = [f"{code}|{place}" for code, place in places.pairs()] + [f"{code}|" for code in places.by_postal]
    state = [f"{code}|{place}" for code, names in places.by_state.items() for place in names]
    longest = max(len(place.split()) for names in places.by_state.values() for place in names)
    return pl.Series(postal, dtype=pl.String), pl.Series(state, dtype=pl.String), longest

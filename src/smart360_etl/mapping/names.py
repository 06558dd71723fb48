"""Full name -> title, first, middle, last, suffix.

Common shapes ("First Last", "First Middle Last" of plain words) are split vectorised; anything with
a comma, a title, a suffix, a particle or odd punctuation goes to `nameparser`, once per distinct value.
The fast path only accepts names in which nameparser would find nothing special, so both agree
(tests/test_names.py checks that). No token is ever dropped: a parse that loses one is refused.
"""

from __future__ import annotations

import re

import polars as pl
from nameparser import Parser, Policy

from .text import by_unique, clean

PARTS = ("title", "first", "middle", "last", "suffix")
PART_DTYPE = pl.Struct({part: pl.String for part in PARTS})
_ROLE = {"title": "title", "first": "given", "middle": "middle", "last": "family", "suffix": "suffix"}

# Nicknames in quotes or brackets would be moved out of every part and lost; keep them as tokens.
_PARSER = Parser(policy=Policy(nickname_delimiters=frozenset()))

_PLAIN_TOKEN = r"[A-Za-z][A-Za-z'\-]*"
_PLAIN_NAME = rf"^{_PLAIN_TOKEN}(?: {_PLAIN_TOKEN}){{1,2}}$"


def _special_words() -> list[str]:
    """Every word the library treats specially (titles, suffixes, particles, conjunctions...)."""
    lexicon, words = _PARSER.lexicon, set()
    for attr in dir(lexicon):
        value = getattr(lexicon, attr)
        if not attr.startswith("_") and isinstance(value, (set, frozenset)):
            words |= {w.lower().rstrip(".") for w in value if isinstance(w, str)}
    return sorted(words)


_SPECIAL = _special_words()


def split_names(names: pl.Series) -> pl.DataFrame:
    """Split a column of full names into the PARTS columns (null where absent)."""
    cleaned = names.to_frame("name").select(clean(pl.col("name")).alias("name"))["name"]
    tokens = cleaned.str.to_lowercase().str.split(" ")
    plain = cleaned.str.contains(_PLAIN_NAME) & ~tokens.list.eval(pl.element().is_in(_SPECIAL)).list.any()
    fast = _split_plain(cleaned)
    slow_input = pl.when(~plain.fill_null(True)).then(cleaned)
    slow = by_unique(cleaned.to_frame().select(slow_input)["name"], parse_one, PART_DTYPE).struct.unnest()
    parts = pl.DataFrame(
        {p: pl.select(pl.when(plain.fill_null(False)).then(fast[p]).otherwise(slow[p])).to_series() for p in PARTS}
    )
    return _fix_case(parts, cleaned)


def _split_plain(cleaned: pl.Series) -> pl.DataFrame:
    tokens = cleaned.str.split(" ")
    count = tokens.list.len()
    return pl.DataFrame(
        {
            "title": pl.Series([None] * len(cleaned), dtype=pl.String),
            "first": tokens.list.first(),
            "middle": pl.select(pl.when(count == 3).then(tokens.list.get(1, null_on_oob=True))).to_series(),
            "last": tokens.list.last(),
            "suffix": pl.Series([None] * len(cleaned), dtype=pl.String),
        }
    )


def parse_one(name: str) -> dict[str, str | None]:
    """The library path for one name; refuses (all None) a parse that would lose a token."""
    parsed = _PARSER.parse(name).as_dict()
    parts = {p: (parsed[_ROLE[p]] or None) for p in PARTS}
    if sorted(_tokens(name)) != sorted(_tokens(" ".join(v for v in parts.values() if v))):
        return dict.fromkeys(PARTS)
    return parts


def _tokens(text: str) -> list[str]:
    return text.replace(",", " ").split()


def _fix_case(parts: pl.DataFrame, cleaned: pl.Series) -> pl.DataFrame:
    """Re-case only names written all upper or all lower; 'McDonald' and 'van der Berg' stay as written."""
    letters = cleaned.str.replace_all(r"[^A-Za-z]", "")
    shouting = (letters == letters.str.to_uppercase()) | (letters == letters.str.to_lowercase())
    recased = parts.with_columns(
        pl.when(pl.lit(shouting).fill_null(False)).then(pl.col(p).str.to_titlecase()).otherwise(pl.col(p)).alias(p)
        for p in PARTS
    )
    roman = pl.col("suffix").str.contains(r"(?i)^[ivx]+\.?$")
    return recased.with_columns(pl.when(roman).then(pl.col("suffix").str.to_uppercase()).otherwise("suffix"))

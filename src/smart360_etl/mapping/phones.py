"""Contact numbers -> E.164 in the region's numbering plan, extensions kept apart.

The common shape (national digits with spaces, dots, dashes, brackets, or +<country code>) is checked
vectorised against the numbering-plan patterns that `phonenumbers` itself uses; everything else
(extensions, letters, other countries, numbers that fail the fast check) is parsed by `phonenumbers`,
once per distinct value. tests/test_phones.py checks that both paths agree.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata

from ..reasons import PHONE_INVALID
from .text import by_unique, clean

RESULT = pl.Struct({"e164": pl.String, "extension": pl.String})
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def normalise_phones(values: pl.Series, phone_region: str) -> pl.DataFrame:
    """Returns phone_number (E.164), phone_extension and reason (`phone_invalid` or null)."""
    cleaned = values.to_frame("raw").select(clean(pl.col("raw")).alias("raw"))["raw"]
    fast = fast_path(cleaned, phone_region)
    slow_input = cleaned.to_frame().select(pl.when(~fast["decided"]).then(pl.col("raw")))["raw"]
    slow = by_unique(slow_input, lambda v: parse_one(v, phone_region), RESULT).struct.unnest()
    e164 = pl.select(pl.coalesce(fast["e164"], slow["e164"])).to_series()
    return pl.DataFrame(
        {
            "phone_number": e164,
            "phone_extension": pl.select(pl.coalesce(fast["extension"], slow["extension"])).to_series(),
            "reason": pl.select(
                pl.when(cleaned.is_not_null() & e164.is_null()).then(pl.lit(PHONE_INVALID))
            ).to_series(),
        }
    )


@lru_cache(maxsize=100_000)
def parse_one(value: str, phone_region: str) -> dict[str, str | None]:
    """The library path for one number: E.164 and extension, or both None when invalid."""
    number = _valid(_spreadsheet_digits(value) or value, phone_region) or _only_number_in(value, phone_region)
    if number is None:
        return {"e164": None, "extension": None}
    return {
        "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "extension": number.extension or None,
    }


def _valid(text: str, phone_region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, phone_region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


_SPREADSHEET = re.compile(r"^(\d+)\.0+$|^(\d)\.(\d+)[eE]\+?(\d+)$")


def _spreadsheet_digits(value: str) -> str | None:
    """The digits of a number that went through a float column or a spreadsheet: "2175551234.0",
    "2.175551234E+09". Scientific notation counts only when every digit is still there (not rounded)."""
    match = _SPREADSHEET.match(value)
    if match is None:
        return None
    if match[1]:
        return match[1]
    lead, rest, exponent = match[2], match[3], int(match[4])
    return lead + rest if len(rest) == exponent else None


def _only_number_in(value: str, phone_region: str) -> phonenumbers.PhoneNumber | None:
    """The one valid number in a labelled value ("217-555-1234 (home)", "Cell: ..."), when nothing else in
    it is a digit. Two numbers ("... / ...") stay invalid: keeping one would silently drop the other."""
    if not re.search(r"[^\d\s()+.\-]", value):  # only digits and punctuation: the parser has said all
        return None
    found = list(phonenumbers.PhoneNumberMatcher(value, phone_region, leniency=phonenumbers.Leniency.VALID))
    if len(found) != 1:
        return None
    rest = value[: found[0].start] + value[found[0].end :]
    return None if any(c.isdigit() for c in rest) else found[0].number


_SHAPE = r"(?i)^(?P<number>\+?[0-9 ().\-/]*[0-9)])(?:\s*(?:x|ext\.?|extension)\s*(?P<ext>\d{1,7}))?$"


def fast_path(cleaned: pl.Series, phone_region: str) -> pl.DataFrame:
    """Columns e164, extension and decided: where decided, `phonenumbers` would say the same.

    Decided are numbers (with an optional "x123" / "ext. 123") that the region's own patterns accept as
    they stand, and, in the NANP, ten-digit national numbers that no NANP country's patterns accept.
    """
    meta = PhoneMetadata.metadata_for_region(phone_region)
    if meta is None or meta.national_prefix_for_parsing not in (None, meta.national_prefix):
        return pl.DataFrame(
            {
                "e164": cleaned.cast(pl.String).clear(len(cleaned)),
                "extension": cleaned.cast(pl.String).clear(len(cleaned)),
                "decided": pl.Series([False] * len(cleaned)),
            }
        )
    cc = str(meta.country_code)
    frame = cleaned.to_frame("raw").with_columns(shape=pl.col("raw").str.extract_groups(_SHAPE))
    number = pl.col("shape").struct["number"]
    frame = frame.with_columns(
        digits=number.str.replace_all(r"[^0-9]", ""),
        international=number.str.starts_with("+"),
        extension=pl.col("shape").struct["ext"],
    )
    national = (
        pl.when(pl.col("international"))
        .then(pl.when(pl.col("digits").str.starts_with(cc)).then(pl.col("digits").str.slice(len(cc))))
        .otherwise(_strip_national_prefix(pl.col("digits"), meta))
    )
    frame = frame.with_columns(national=national)
    valid = _matches_general(pl.col("national"), meta) & _matches_any_type(pl.col("national"), meta)
    frame = frame.with_columns(valid=valid.fill_null(False))
    invalid = _surely_invalid_nanp(frame, cc)
    return frame.select(
        pl.when("valid").then(pl.lit("+" + cc) + pl.col("national")).alias("e164"),
        pl.when("valid").then(pl.col("extension")).alias("extension"),
        (pl.col("valid") | invalid).alias("decided"),
    )


def _surely_invalid_nanp(frame: pl.DataFrame, cc: str) -> pl.Expr:
    # A ten-digit national number starting 2-9 can only be read one way in the NANP: if no NANP
    # country's patterns accept it, the library rejects it too (most invalid numbers look like this).
    if cc != "1":
        return pl.lit(False)
    candidate = pl.col("national").str.contains(r"^[2-9]\d{9}$") & ~pl.col("valid") & ~pl.col("international")
    # the big pattern only runs on the few candidates (null elsewhere)
    accepted = pl.when(candidate).then(pl.col("national")).str.contains(_nanp_pattern())
    invalid = candidate.fill_null(False) & ~accepted.fill_null(True)
    return pl.lit(frame.select(invalid.fill_null(False)).to_series())


@cache
def _nanp_pattern() -> str:
    """Every number type of every NANP country, as one pattern (all NANP national numbers have ten digits)."""
    patterns = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = PhoneMetadata.metadata_for_region(region)
        patterns += [
            desc.national_number_pattern
            for desc in (getattr(meta, n) for n in _TYPE_DESCS)
            if desc is not None and desc.national_number_pattern
        ]
    return "^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$"


def _strip_national_prefix(digits: pl.Expr, meta) -> pl.Expr:
    # Mirrors phonenumbers: strip the prefix unless only the unstripped number is viable.
    prefix = meta.national_prefix
    if not prefix:
        return digits
    stripped = digits.str.slice(len(prefix))
    keep = _general_pattern(digits, meta) & ~_general_pattern(stripped, meta)
    return pl.when(digits.str.starts_with(prefix) & ~keep).then(stripped).otherwise(digits)


def _general_pattern(national: pl.Expr, meta) -> pl.Expr:
    return national.str.contains(f"^(?:{meta.general_desc.national_number_pattern})$")


def _matches_general(national: pl.Expr, meta) -> pl.Expr:
    return _matches_desc(national, meta.general_desc, meta.general_desc.possible_length)


def _matches_any_type(national: pl.Expr, meta) -> pl.Expr:
    matches = [
        _matches_desc(national, desc, desc.possible_length or meta.general_desc.possible_length)
        for desc in (getattr(meta, name) for name in _TYPE_DESCS)
        if desc is not None and desc.national_number_pattern
    ]
    return pl.any_horizontal(matches) if matches else pl.lit(False)


def _matches_desc(national: pl.Expr, desc, lengths) -> pl.Expr:
    pattern = national.str.contains(f"^(?:{desc.national_number_pattern})$")
    return pattern & national.str.len_chars().is_in(list(lengths)) if lengths else pattern

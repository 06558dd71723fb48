"""Phones to E.164: real-world shapes, round trips, and the vectorised path agrees with phonenumbers."""

from __future__ import annotations

import phonenumbers
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart360_etl.mapping.phones import fast_path, normalise_phones, parse_one


def normalise(region, *raw):
    return normalise_phones(pl.Series(list(raw), dtype=pl.String), region).to_dicts()


@pytest.mark.parametrize(
    ("region", "raw", "e164", "extension"),
    [
        ("US", "(212) 456-7890", "+12124567890", None),
        ("US", "212.456.7890", "+12124567890", None),
        ("US", "1-212-456-7890", "+12124567890", None),
        ("US", "+1 212 456 7890", "+12124567890", None),
        ("US", "212-456-7890 x123", "+12124567890", "123"),
        ("US", "212 456 7890 ext. 45", "+12124567890", "45"),
        ("US", "+44 20 7946 0958", "+442079460958", None),
        ("GB", "020 7946 0958", "+442079460958", None),
        ("AU", "(02) 9374 4000", "+61293744000", None),
        ("IN", "98765 43210", "+919876543210", None),
        ("CA", "416-979-2301", "+14169792301", None),
        # through a float column or a spreadsheet: recovered only when every digit is still there
        ("US", "2124567890.0", "+12124567890", None),
        ("US", "2.124567891E+09", "+12124567891", None),
        ("US", "2.12456789E+09", None, None),  # the last digit was a zero, or was it?
        ("US", "2.12E+09", None, None),
        # a label around one number is dropped; a second number makes the value invalid (it would be lost)
        ("US", "212-456-7890 (home)", "+12124567890", None),
        ("US", "Cell: 212 456 7890 ext 5", "+12124567890", "5"),
        ("US", "212 456 7890 / 212 456 7891", None, None),
        ("US", "home 212-456-7890 or 7891", None, None),
    ],
)
def test_real_world_numbers(region, raw, e164, extension):
    got = normalise(region, raw)[0]
    assert (got["phone_number"], got["phone_extension"]) == (e164, extension)
    assert got["reason"] == (None if e164 else "phone_invalid")


@pytest.mark.parametrize("raw", ["555-123-4567", "12345", "000-000-0000", "call me", "+1 555 123 4567"])
def test_invalid_numbers_are_flagged_not_kept(raw):
    assert normalise("US", raw)[0] == {"phone_number": None, "phone_extension": None, "reason": "phone_invalid"}


def test_missing_number_is_not_a_problem():
    assert normalise("US", None, "  ")[0]["reason"] is None


DIGITS = st.text(alphabet="0123456789", min_size=6, max_size=13)
DECOR = st.sampled_from(
    [
        "{}",
        "+{}",
        "+1 {}",
        "1-{}",
        "({}",
        "{} ",
        "0{}",
        "+44{}",
        "+91 {}",
        "+61{}",
        "011{}",
        "{} x12",
        "{}ext. 7",
        "1 {} EXTENSION 123456",
        "+1{} x1",
    ]
)
NANP = st.from_regex(r"[2-9]\d{2}[2-9]\d{6}", fullmatch=True)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(st.one_of(DIGITS, NANP), DECOR), min_size=1, max_size=30),
    st.sampled_from(["US", "CA", "IN", "GB", "AU"]),
)
def test_fast_path_agrees_with_phonenumbers(samples, region):
    raw = [decor.format(digits) for digits, decor in samples]
    fast = fast_path(pl.Series(raw, dtype=pl.String), region).to_dicts()
    for value, got in zip(raw, fast):
        if got["decided"]:
            assert {"e164": got["e164"], "extension": got["extension"]} == parse_one(value, region), value


def test_fast_path_decides_the_common_shapes():
    raw = ["(212) 456-7890", "212-456-7890 x12", "555-123-4567", "+1 212 456 7890"]
    assert fast_path(pl.Series(raw), "US")["decided"].to_list() == [True] * 4


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["212", "312", "415", "617", "713"]),
    st.integers(200, 999),
    st.integers(0, 9999),
    st.sampled_from(["({a}) {e}-{l}", "{a}-{e}-{l}", "{a}.{e}.{l}", "+1 {a} {e} {l}", "{a}{e}{l}"]),
)
def test_e164_parses_back_to_the_same_number(area, exchange, line, shape):
    raw = shape.format(a=area, e=exchange, l=f"{line:04d}")
    got = normalise("US", raw)[0]["phone_number"]
    if got is None:
        assert not phonenumbers.is_valid_number(phonenumbers.parse(raw, "US"))
        return
    assert phonenumbers.parse(got, None) == phonenumbers.parse(raw, "US")

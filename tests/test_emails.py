"""E-mails: trimmed, domain lower-cased, syntax-checked; the vectorised path agrees with email-validator."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart360_etl.mapping.emails import fast_path, normalise_emails, parse_one


def normalise(*raw):
    return normalise_emails(pl.Series(list(raw), dtype=pl.String)).to_dicts()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  John.Doe@EXAMPLE.COM ", "John.Doe@example.com"),
        ("jane+bills@Mail.Example.org", "jane+bills@mail.example.org"),
        ("üser@exämple.de", "üser@exämple.de"),
        # copied from a mail client
        ("mailto:ann@Example.com", "ann@example.com"),
        ("Mailto:ann@example.com", "ann@example.com"),
        ("Ann Lee <ann@Example.com>", "ann@example.com"),
        ('"Lee, Ann" <ann@example.com>', "ann@example.com"),
    ],
)
def test_valid_addresses(raw, expected):
    assert normalise(raw)[0] == {"email_address": expected, "reason": None}


@pytest.mark.parametrize(
    "raw",
    [
        "john.doe@",
        "john doe@example.com",
        "john@@mail.com",
        "Ann <ann@example.com>, Bo <bo@example.com>",  # two addresses: keeping one would drop the other
        "ann@example.com; bo@example.com",
        "john.mail.com",
        "x@localhost",
        "a..b@example.com",
        ".a@example.com",
        "a@-example.com",
        # RFC 5321's limits, on both paths: over 64 octets before the @ (ASCII, and not: the library's)
        "a" * 65 + "@example.com",
        "é" + "a" * 64 + "@example.com",
        "Ann Lee <" + "a" * 65 + "@example.com>",
    ],
)
def test_invalid_addresses_are_flagged(raw):
    assert normalise(raw)[0] == {"email_address": None, "reason": "email_invalid"}


LOCAL = st.text(alphabet="abcXYZ09._+-'", min_size=1, max_size=12)
DOMAIN = st.text(alphabet="abcXY09.-", min_size=1, max_size=16)
TLD = st.sampled_from(["com", "ORG", "io", "test", "local", "x", "c0m", "museum"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(LOCAL, DOMAIN, TLD), min_size=1, max_size=30))
def test_fast_path_agrees_with_email_validator(parts):
    raw = [f"{local}@{domain}.{tld}" for local, domain, tld in parts]
    fast = pl.DataFrame({"raw": raw}).select(fast_path(pl.col("raw")))["raw"].to_list()
    for value, got in zip(raw, fast):
        if got is not None:
            assert got == parse_one(value), value

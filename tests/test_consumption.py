"""Consumption history parsing: the shapes legacy exports use, and properties over generated ones."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart360_etl.mapping.consumption import MONTHS, parse_consumption

MIGRATED_ON = date(2026, 1, 1)
CEILING = 100_000


def parse(*values, unit="kWh"):
    parsed = parse_consumption(pl.Series(list(values), dtype=pl.String), unit, MIGRATED_ON, CEILING)
    return list(zip(parsed["readings"].to_list(), parsed["reason"].to_list()))


@pytest.mark.parametrize(
    ("text", "quantity"),
    [("100 kWh", 100), ("1,250 kWh", 1250), ("0.5 MWh", 500), ("640", 640), ("250000 Wh", 250), (" 12.5kwh ", 12.5)],
)
def test_a_single_total_is_one_migrated_reading_in_the_meters_unit(text, quantity):
    [(readings, reason)] = parse(text)
    assert reason is None
    assert readings == [{"period": MIGRATED_ON, "quantity": quantity, "unit": "kWh", "reading_type": "MIGRATED"}]


def test_histories_and_json_arrays_are_actual_readings_per_period():
    [(history, _), (array, _)] = parse(
        "Jan-2024:100; Feb-2024:1,120 kWh | Mar 2024: 0.1 MWh",
        json.dumps([{"period": "2024-04", "quantity": 90}, {"period": "2024-05-31", "quantity": 2, "unit": "MWh"}]),
    )
    assert [(r["period"], r["quantity"], r["reading_type"]) for r in history] == [
        (date(2024, 1, 1), 100, "ACTUAL"),
        (date(2024, 2, 1), 1120, "ACTUAL"),
        (date(2024, 3, 1), 100, "ACTUAL"),
    ]
    assert [(r["period"], r["quantity"]) for r in array] == [(date(2024, 4, 1), 90), (date(2024, 5, 31), 2000)]


@pytest.mark.parametrize(
    "text",
    [
        "Jan 2024: 100 kWh, Feb 2024: 1,120 kWh",  # commas between entries, not inside "1,120"
        "January 2024 = 100; February 2024 = 1120",
        "2024-01:100; 2024-02:1120",
        "01/2024: 100, 02/2024: 1120",
    ],
)
def test_history_shapes_from_other_exports(text):
    [(readings, reason)] = parse(text)
    assert reason is None
    assert [(r["period"], r["quantity"]) for r in readings] == [(date(2024, 1, 1), 100), (date(2024, 2, 1), 1120)]


@pytest.mark.parametrize(
    "text",
    [
        "Janx-2024:1",
        "2024-13:1",
        "-5 kWh",
        "n/a",
        "200000 kWh",
        "10 therms",
        "Jan-2024:abc",
        "Jan-2024:1; Jan-2024:2",
        "Foo-2024:1",
        "[1, 2]",
        '[{"period": "soon", "quantity": 1}]',
    ],
)
def test_unusable_values_are_named_and_load_nothing(text):
    assert parse(text) == [(None, "consumption_invalid")]


def test_no_history_is_not_an_error():
    assert parse(None, "", "   ") == [(None, None)] * 3


def test_other_units_must_be_the_meters():
    assert parse("12 m3", unit="m3") == [
        ([{"period": MIGRATED_ON, "quantity": 12, "unit": "m3", "reading_type": "MIGRATED"}], None)
    ]
    assert parse("12 kWh", unit="m3") == [(None, "consumption_invalid")]


quantities = st.decimals(min_value=0, max_value=99_999, places=2, allow_nan=False, allow_infinity=False)
units = st.sampled_from([("Wh", 0.001), ("kWh", 1.0), ("MWh", 1000.0), ("", 1.0)])


@given(quantities, units)
def test_any_plausible_total_converts_to_the_meters_unit(quantity, unit):
    name, factor = unit
    value = float(quantity) * factor
    [(readings, reason)] = parse(f"{quantity:,} {name}".strip())
    if value > CEILING:
        assert reason == "consumption_invalid"
    else:
        assert reason is None and readings[0]["quantity"] == pytest.approx(value)


@given(st.dictionaries(st.tuples(st.sampled_from(list(MONTHS)), st.integers(2000, 2030)), quantities, min_size=1))
def test_any_history_round_trips(entries):
    text = "; ".join(f"{month.title()}-{year}:{quantity}" for (month, year), quantity in entries.items())
    [(readings, reason)] = parse(text)
    assert reason is None
    expected = {(date(year, MONTHS[month], 1), float(q)) for (month, year), q in entries.items()}
    assert {(r["period"], r["quantity"]) for r in readings} == expected

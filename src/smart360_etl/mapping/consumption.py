"""Consumption history -> meter readings.

Shapes seen in legacy exports: a single total ("100 kWh", "1,250 kWh", "0.5 MWh", "640"), a history
("Jan-2024:100; Feb-2024:120 kWh", "January 2024: 100, February 2024: 120", "2024-01=100 | 2024-02=120",
"01/2024:100"), or a JSON array of {period, quantity, unit}. A single total has no
period: it becomes one MIGRATED reading dated by the job. Totals (the common shape) are parsed
vectorised; histories and JSON go through the slow path row by row.

Quantities are converted to the meter's unit where the units are of one kind (Wh, kWh, MWh, GWh);
another unit must equal the meter's. Negative, non-numeric, implausible (above the ceiling) or
repeated periods make the whole value invalid: reason `consumption_invalid`.
"""

from __future__ import annotations

import json
import re
from datetime import date

import polars as pl

from ..reasons import CONSUMPTION_INVALID

ENERGY_IN_WH = {"wh": 1.0, "kwh": 1e3, "mwh": 1e6, "gwh": 1e9}
READING = pl.Struct({"period": pl.Date, "quantity": pl.Float64, "unit": pl.String, "reading_type": pl.String})
_TOTAL = r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z³0-9]*)\s*$"
# One history entry: a month ("Jan-2024", "January 2024", "2024-01", "01/2024"), then ":" or "=" and the amount.
_ENTRY = re.compile(
    r"^\s*(?:(?P<name>[A-Za-z]{3,9})\.?[-\s/]?(?P<year>\d{4})|(?P<iso_year>\d{4})-(?P<iso_month>\d{1,2})"
    r"|(?P<month>\d{1,2})/(?P<month_year>\d{4}))\s*[:=]\s*(?P<amount>\S.*?)\s*$"
)
# Entries are split at ";", "|" or a line break, and at a comma followed by the next entry's month
# (not inside "1,250").
_ENTRY_SPLIT = re.compile(r"[;|\n]|,\s*(?=[A-Za-z]{3,9}\.?[-\s/]?\d{4}|\d{4}-\d{1,2}\s*[:=]|\d{1,2}/\d{4})")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
MONTHS = {m: i for i, m in enumerate(("jan feb mar apr may jun jul aug sep oct nov dec").split(), start=1)}
MONTH_NAMES = "january february march april may june july august september october november december".split()


class Invalid(ValueError):
    pass


def parse_consumption(values: pl.Series, unit: str, migrated_on: date, ceiling: float) -> pl.DataFrame:
    """Per source row: `readings` (a list of READING structs) and `reason` (consumption_invalid or null)."""
    text = values.cast(pl.String).str.strip_chars()
    frame = pl.DataFrame({"text": text}).with_columns(
        pl.col("text").str.extract(_TOTAL, 1).str.replace_all(",", "").cast(pl.Float64, strict=False).alias("q"),
        pl.col("text").str.extract(_TOTAL, 2).alias("u"),
    )
    factor = pl.col("u").str.to_lowercase().replace_strict(_factors(unit), default=None, return_dtype=pl.Float64)
    total = frame.with_columns(
        pl.when(pl.col("u").fill_null("") == "").then(1.0).otherwise(factor).alias("factor")
    ).with_columns((pl.col("q") * pl.col("factor")).alias("quantity"))
    is_total = total["quantity"].is_not_null() & (total["quantity"] <= ceiling)
    blank = text.is_null() | (text == "")
    single = total.select(
        pl.concat_list(
            pl.struct(
                pl.lit(migrated_on).alias("period"),
                pl.col("quantity"),
                pl.lit(unit).alias("unit"),
                pl.lit("MIGRATED").alias("reading_type"),
            )
        ).alias("readings")
    ).to_series()
    rest = (~is_total & ~blank).arg_true()
    reason = pl.Series("reason", [None] * len(values), dtype=pl.String)
    readings = single.to_frame().select(pl.when(is_total).then(pl.col("readings"))).to_series()
    if len(rest):  # the slow shapes, row by row, merged back by position
        slow = [_slow(text[i], unit, migrated_on, ceiling) for i in rest]
        reason = reason.scatter(rest.filter(pl.Series([r is None for r in slow])), CONSUMPTION_INVALID)
        positions = pl.DataFrame({"at": rest, "slow": pl.Series(slow, dtype=pl.List(READING))})
        readings = (
            pl.DataFrame({"readings": readings})
            .with_row_index("at")
            .join(positions.with_columns(pl.col("at").cast(pl.UInt32)), on="at", how="left")
            .select(pl.coalesce("readings", "slow").alias("readings"))
            .to_series()
        )
    return pl.DataFrame([readings, reason])


def _factors(unit: str) -> dict[str, float]:
    """Source unit (lower case) -> factor into `unit`."""
    target = unit.lower()
    if target in ENERGY_IN_WH:
        return {u: wh / ENERGY_IN_WH[target] for u, wh in ENERGY_IN_WH.items()}
    return {target: 1.0}


def _slow(text: str, unit: str, migrated_on: date, ceiling: float) -> list[dict] | None:
    """A history, a JSON array, or an unusable value (None)."""
    try:
        entries = _json_entries(text) if text.lstrip().startswith("[") else _history_entries(text, migrated_on)
        readings = [_reading(period, quantity, given, unit, ceiling) for period, quantity, given in entries]
    except (Invalid, ValueError, TypeError, KeyError):
        return None
    periods = [r["period"] for r in readings]
    return readings if readings and len(set(periods)) == len(periods) else None


def _history_entries(text: str, migrated_on: date) -> list[tuple[date, str, str | None]]:
    entries = []
    for part in filter(None, (p.strip() for p in _ENTRY_SPLIT.split(text))):
        match = _ENTRY.match(part)
        amount = match and re.fullmatch(r"([0-9][0-9,]*(?:\.[0-9]+)?)\s*([A-Za-z]*)", match["amount"])
        if not match or not amount:
            raise Invalid(part)
        entries.append((_period(match), amount.group(1), amount.group(2) or None))
    return entries


def _period(entry: re.Match) -> date:
    """The first day of the entry's month; an unknown month name or number is Invalid."""
    if entry["name"]:
        name = entry["name"].lower()
        number = MONTHS.get(name[:3])
        if number is None or not MONTH_NAMES[number - 1].startswith(name):
            raise Invalid(entry["name"])
        return date(int(entry["year"]), number, 1)
    if entry["iso_year"]:
        return date(int(entry["iso_year"]), int(entry["iso_month"]), 1)  # ValueError for month 13
    return date(int(entry["month_year"]), int(entry["month"]), 1)


def _json_entries(text: str) -> list[tuple[date, str, str | None]]:
    items = json.loads(text)
    if not isinstance(items, list):
        raise Invalid(text)
    entries = []
    for item in items:
        match = _ISO_MONTH.match(str(item["period"]).strip())
        if not match:
            raise Invalid(item)
        period = date(int(match.group(1)), int(match.group(2)), int(match.group(3) or 1))
        entries.append((period, str(item["quantity"]), item.get("unit")))
    return entries


def _reading(period: date, quantity: str, given: str | None, unit: str, ceiling: float) -> dict:
    factor = 1.0 if not given else _factors(unit).get(given.lower())
    if factor is None:
        raise Invalid(given)
    value = float(quantity.replace(",", "")) * factor
    if not 0 <= value <= ceiling:
        raise Invalid(quantity)
    return {"period": period, "quantity": value, "unit": unit, "reading_type": "ACTUAL"}

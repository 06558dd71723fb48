"""Why an interval read is not loaded, and what the person fixing the source does about it."""

from __future__ import annotations

import polars as pl

METER_MISSING = "interval_meter_missing"
METER_UNKNOWN = "interval_meter_unknown"
TIME_INVALID = "interval_time_invalid"
TIME_NONEXISTENT = "interval_time_nonexistent"
TIME_OUT_OF_RANGE = "interval_time_out_of_range"
VALUE_INVALID = "interval_value_invalid"
UNIT_UNKNOWN = "interval_unit_unknown"
LENGTH_INVALID = "interval_length_invalid"
DUPLICATE_CONFLICT = "interval_duplicate_conflict"
DUPLICATE_COPY = "interval_duplicate_copy"

FIXES = {
    METER_MISSING: "fill in the meter number",
    METER_UNKNOWN: "the meter is not in SMART360: migrate it with the consumer job first, or correct the number",
    TIME_INVALID: "write the interval start as ISO 8601 (2026-03-08T01:45:00-06:00) or epoch seconds",
    TIME_NONEXISTENT: "the local time was skipped by a daylight-saving change: give the start with its UTC offset",
    TIME_OUT_OF_RANGE: "the start is before 1970 or more than a year ahead: correct the date",
    VALUE_INVALID: "give the value as a number, with a dot for decimals (1234.5)",
    UNIT_UNKNOWN: "use a unit this tool converts (kWh, Wh, MWh, m3, L, gal, ft3, CCF) of the job's dimension",
    LENGTH_INVALID: "the interval's length (or end) must be after its start",
    DUPLICATE_CONFLICT: "the same meter, channel and interval start have two different values: keep the right one",
    DUPLICATE_COPY: "an exact copy of a read that was loaded: nothing to do unless the source should not repeat it",
}

SCHEMA = pl.Schema(
    {"source": pl.String, "line": pl.Int64, "meter": pl.String, "reason": pl.String, "row": pl.String}
)


def frame(source: pl.DataFrame, index: pl.Series, reasons: pl.Series) -> pl.DataFrame:
    """Rejected reads as stored: where they are in the source, the meter, the reason, the source's values."""
    rows = source[index]
    values = [c for c in rows.columns if c not in ("index", "source", "line")]
    return pl.DataFrame(
        {
            "source": rows["source"].cast(pl.String),
            "line": rows["line"].cast(pl.Int64),
            "meter": rows["meter"].cast(pl.String),
            "reason": reasons,
            "row": rows.select(pl.struct([pl.col(c).cast(pl.String) for c in values]).struct.json_encode())
            .to_series() if values else pl.Series([], dtype=pl.String),
        },
        schema=SCHEMA,
    )

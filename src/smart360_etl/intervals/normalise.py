"""Source reads (text, or typed from Parquet) -> typed reads in UTC and the job's unit, each with the unit
of work it belongs to; a read that cannot be typed is a reject with one reason.

Local times without an offset are placed in the job's time zone. The hour a fall-back change repeats is
told apart by order: a meter's first 01:30 is the earlier one, its second the later. A local time a
spring-forward change skips does not exist: its read is rejected. Values become integer micro-units
(6 decimals), so that sums are exact."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import polars as pl

from ..config.intervals import IntervalsConfig
from . import rejects
from .units import canonical_unit, factor

_AWARE = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M%z")
_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")
_EPOCH = r"^\d{9,13}(\.\d+)?$"
CHANNELS = {
    "1": "delivered", "forward": "delivered", "delivered": "delivered", "import": "delivered", "del": "delivered",
    "19": "received", "reverse": "received", "received": "received", "export": "received", "rec": "received",
    "4": "net", "net": "net",
}
MICRO = 1_000_000
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)  # reads before it, or over a year ahead, are typos


@dataclass(frozen=True)
class Normalised:
    reads: pl.DataFrame  # meter, channel, start, seconds, micro, unit, quality, source, line, month, bucket
    rejected: pl.DataFrame  # source, line, meter, reason, row (the source's values as JSON)


def unit_key(month: date, bucket: int) -> str:
    return f"{month:%Y-%m}/b{bucket:03d}"


def meter_hash(meter: str) -> int:
    """Stable across processes and versions (a partition's meters must always hash to it)."""
    return zlib.crc32(meter.encode("utf-8"))


def normalise(frame: pl.DataFrame, intervals: IntervalsConfig, buckets: dict[date, int]) -> Normalised:
    """`buckets`: months whose partitions exist already -> their bucket count (others: the job's)."""
    zone = intervals.timezone
    frame = frame.with_row_index("index")
    start, never = instants(frame, "start", zone)
    typed = frame.with_columns(
        meter=_text("meter").str.strip_chars(),
        start=start,
        never_was=never,
        number=_value(frame),
        unit_factor=_unit_factor(frame, intervals.unit),
        channel=_channel(frame),
        unit=pl.lit(intervals.unit),
        quality=_text("quality") if "quality" in frame.columns else pl.lit(None, pl.String),
    )
    typed = typed.with_columns(
        seconds=_seconds(typed, intervals),
        micro=(pl.col("number") * pl.col("unit_factor") * MICRO).round(0).cast(pl.Int64, strict=False),
    )
    typed = typed.with_columns(reason=_reason())
    bad = typed.filter(pl.col("reason").is_not_null())
    good = _with_unit_keys(typed.filter(pl.col("reason").is_null()), intervals, buckets)
    return Normalised(
        good.select("meter", "channel", "start", "seconds", "micro", "unit", "quality", "source", "line",
                    "month", "bucket"),
        rejects.frame(frame, bad["index"], bad["reason"]),
    )


def instants(frame: pl.DataFrame, column: str, zone: str) -> tuple[pl.Series, pl.Series]:
    """The column as instants in UTC (null where unreadable), and where it was a local time that never was.

    Each way of writing a time is tried only on the rows the ways before it could not read: an export
    written one way (the usual case) is parsed once."""
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Datetime):
        values = frame[column].dt.cast_time_unit("us")
        if dtype.time_zone is not None:
            return values.dt.convert_time_zone("UTC"), pl.Series([False] * frame.height)
        local = _localised(frame, values, zone)
        return local, local.is_null() & values.is_not_null()
    text = frame[column].cast(pl.String).str.strip_chars()
    result = pl.Series(column, [None] * frame.height, pl.Datetime("us", "UTC"))
    todo = text.is_not_null() & (text != "")
    for parse in _PARSERS:
        if not todo.any():
            break
        rows = todo.arg_true()
        parsed = parse(text.gather(rows))
        found = parsed.is_not_null()
        if found.any():
            result = result.scatter(rows.filter(found), parsed.filter(found))
            todo = todo.scatter(rows.filter(found), False)
    naive_rows = todo.arg_true()
    never = pl.Series([False] * frame.height)
    if naive_rows.is_empty():
        return result, never
    naive = _naive(text.gather(naive_rows))
    readable = naive.is_not_null()
    local = _localised(frame[naive_rows.filter(readable)], naive.filter(readable), zone)
    if not local.is_empty():
        result = result.scatter(naive_rows.filter(readable), local)
        never = never.scatter(naive_rows.filter(readable), local.is_null())
    return result, never


def _epoch(text: pl.Series) -> pl.Series:
    number = pl.when(text.str.contains(_EPOCH)).then(text.cast(pl.Float64, strict=False))
    micros = pl.when(number > 1e11).then(number * 1_000).otherwise(number * MICRO).cast(pl.Int64)
    return pl.select(pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")).to_series()


def _aware(form: str):
    def parse(text: pl.Series) -> pl.Series:
        return text.str.replace(r"Z$", "+00:00").str.to_datetime(form, time_zone="UTC", strict=False, time_unit="us")
    return parse


_PARSERS = (*(_aware(form) for form in _AWARE), _epoch)


def _naive(text: pl.Series) -> pl.Series:
    result = text.str.to_datetime(_NAIVE[0], strict=False, time_unit="us")
    for form in _NAIVE[1:]:
        missing = result.is_null() & text.is_not_null()
        if not missing.any():
            break
        rows = missing.arg_true()
        result = result.scatter(rows, text.gather(rows).str.to_datetime(form, strict=False, time_unit="us"))
    return result


def _localised(frame: pl.DataFrame, naive: pl.Series, zone: str) -> pl.Series:
    """Local times of `frame`'s rows in `zone`: a meter and channel's n-th read at the same local time is
    first the earlier instant, then the later (the hour a fall-back change repeats)."""
    keys = frame.select(pl.col("meter").cast(pl.String).str.strip_chars().alias("meter"),
                        *([pl.col("channel").cast(pl.String).alias("channel")] if "channel" in frame.columns else []))
    occurrence = keys.with_columns(naive=naive).select(
        pl.int_range(pl.len()).over([*keys.columns, "naive"]).alias("occurrence")).to_series()
    ambiguous = pl.select(pl.when(pl.lit(occurrence) == 0).then(pl.lit("earliest")).otherwise(pl.lit("latest")))
    return pl.select(pl.lit(naive).dt.replace_time_zone(zone, ambiguous=pl.lit(ambiguous.to_series()),
                                                        non_existent="null").dt.convert_time_zone("UTC")).to_series()


def _text(column: str) -> pl.Expr:
    """A text column PostgreSQL can hold: without NUL characters (a Parquet or XML string may have them)."""
    return pl.col(column).cast(pl.String).str.replace_all("\x00", "", literal=True)


def _value(frame: pl.DataFrame) -> pl.Expr:
    value = _number(frame, "value")
    if "multiplier" in frame.columns:
        value = value * pl.when(pl.col("multiplier").is_null()).then(1.0).otherwise(_number(frame, "multiplier"))
    return pl.when(value.is_finite()).then(value)


def _unit_factor(frame: pl.DataFrame, target_unit: str) -> pl.Expr:
    if "unit" not in frame.columns:
        return pl.lit(1.0)
    units = frame["unit"].cast(pl.String).unique().to_list()
    factors = {u: _factor(u, target_unit) for u in units if u is not None}
    return pl.col("unit").cast(pl.String).replace_strict(factors, default=1.0 if None in units else None,
                                                        return_dtype=pl.Float64)


def _factor(unit: str, target: str) -> float | None:
    known = canonical_unit(unit)
    converted = factor(known, target) if known is not None else None
    return None if converted is None else float(converted)


def _number(frame: pl.DataFrame, column: str) -> pl.Expr:
    if frame.schema[column].is_numeric():
        return pl.col(column).cast(pl.Float64)
    return pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def _channel(frame: pl.DataFrame) -> pl.Expr:
    if "channel" not in frame.columns:
        return pl.lit("delivered")
    text = _text("channel").str.strip_chars().str.to_lowercase()
    return pl.when(text.is_null() | (text == "")).then(pl.lit("delivered")).otherwise(
        text.replace(CHANNELS)
    )


def _seconds(typed: pl.DataFrame, intervals: IntervalsConfig) -> pl.Expr:
    if "seconds" in typed.columns:
        return _number(typed, "seconds").round(0).cast(pl.Int32, strict=False)
    if "end" in typed.columns:
        end, _ = instants(typed, "end", intervals.timezone)
        return (pl.lit(end) - pl.col("start")).dt.total_seconds().cast(pl.Int32, strict=False)
    return pl.lit(intervals.interval_seconds, pl.Int32)


def _reason() -> pl.Expr:
    """The first reason a read cannot be typed, or null."""
    checks = [
        (pl.col("meter").is_null() | (pl.col("meter") == ""), rejects.METER_MISSING),
        (pl.col("start").is_null() & pl.col("never_was"), rejects.TIME_NONEXISTENT),
        (pl.col("start").is_null(), rejects.TIME_INVALID),
        (~pl.col("start").is_between(EARLIEST, datetime.now(timezone.utc) + timedelta(days=366), closed="left"),
         rejects.TIME_OUT_OF_RANGE),
        (pl.col("number").is_null(), rejects.VALUE_INVALID),
        (pl.col("unit_factor").is_null(), rejects.UNIT_UNKNOWN),
        (pl.col("micro").is_null(), rejects.VALUE_INVALID),
        (pl.col("seconds").is_not_null() & (pl.col("seconds") <= 0), rejects.LENGTH_INVALID),
    ]
    expr = pl.lit(None, pl.String)
    for condition, code in reversed(checks):
        expr = pl.when(condition).then(pl.lit(code)).otherwise(expr)
    return expr


def _with_unit_keys(good: pl.DataFrame, intervals: IntervalsConfig, buckets: dict[date, int]) -> pl.DataFrame:
    month = pl.col("start").dt.convert_time_zone(intervals.timezone).dt.truncate("1mo").dt.date()
    meters = good["meter"].unique()
    hashes = pl.DataFrame({"meter": meters, "hash": [meter_hash(m) for m in meters]},
                          schema={"meter": pl.String, "hash": pl.Int64})
    counts = pl.col("month").replace_strict(buckets, default=intervals.partitions.meter_buckets,
                                            return_dtype=pl.Int64) if buckets else intervals.partitions.meter_buckets
    return (good.with_columns(month=month).join(hashes, on="meter", how="left", maintain_order="left")
            .with_columns(bucket=(pl.col("hash") % counts).cast(pl.Int16)).drop("hash"))

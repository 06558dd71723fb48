"""Source reads (text, or typed from Parquet) -> typed reads in UTC and the job's unit, each with the unit
of work it belongs to; a read that cannot be typed is a reject with one reason.

Local times without an offset are placed in the job's time zone. The hour a fall-back change repeats is
told apart by order: a meter's first 01:30 is the earlier one, its second the later. A local time a
spring-forward change skips does not exist: its read is rejected. Values become integer micro-units
(6 decimals), so that sums are exact."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

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
    typed = frame.with_columns(
        meter=pl.col("meter").cast(pl.String).str.strip_chars(),
        start=_instant(frame, "start", zone),
        local_start=_local_text_parses(frame),
        number=_value(frame),
        unit_factor=_unit_factor(frame, intervals.unit),
        channel=_channel(frame),
        unit=pl.lit(intervals.unit),
        quality=pl.col("quality").cast(pl.String) if "quality" in frame.columns else pl.lit(None, pl.String),
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


def _instant(frame: pl.DataFrame, column: str, zone: str) -> pl.Expr:
    """The column as an instant in UTC (null where it cannot be read, or names a local time that never was)."""
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Datetime):
        col = pl.col(column).dt.cast_time_unit("us")
        return col.dt.convert_time_zone("UTC") if dtype.time_zone is not None else _localised(frame, col, zone)
    text = pl.col(column).cast(pl.String).str.strip_chars()
    epoch = pl.when(text.str.contains(_EPOCH)).then(text.cast(pl.Float64, strict=False))
    epoch_us = pl.when(epoch > 1e11).then(epoch * 1_000).otherwise(epoch * MICRO).cast(pl.Int64)
    aware_text = text.str.replace(r"Z$", "+00:00")
    aware = pl.coalesce([aware_text.str.to_datetime(f, time_zone="UTC", strict=False, time_unit="us") for f in _AWARE])
    return pl.coalesce(pl.from_epoch(epoch_us, time_unit="us").dt.replace_time_zone("UTC"), aware,
                       _localised(frame, _naive(text), zone))


def _naive(text: pl.Expr) -> pl.Expr:
    return pl.coalesce([text.str.to_datetime(f, strict=False, time_unit="us") for f in _NAIVE])


def _localised(frame: pl.DataFrame, naive: pl.Expr, zone: str) -> pl.Expr:
    # The n-th read of a meter and channel at the same local time: first the earlier instant, then the later.
    keys = [pl.col("meter").cast(pl.String).str.strip_chars()]
    keys += [pl.col("channel").cast(pl.String)] if "channel" in frame.columns else []
    occurrence = pl.int_range(pl.len()).over([*keys, naive])
    ambiguous = pl.when(occurrence == 0).then(pl.lit("earliest")).otherwise(pl.lit("latest"))
    return naive.dt.replace_time_zone(zone, ambiguous=ambiguous, non_existent="null").dt.convert_time_zone("UTC")


def _local_text_parses(frame: pl.DataFrame) -> pl.Expr:
    """The start is a local time without a zone (so, when it is null after localising, it never was)."""
    dtype = frame.schema["start"]
    if isinstance(dtype, pl.Datetime):
        return pl.lit(dtype.time_zone is None)
    return _naive(pl.col("start").cast(pl.String).str.strip_chars()).is_not_null()


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
    text = pl.col("channel").cast(pl.String).str.strip_chars().str.to_lowercase()
    return pl.when(text.is_null() | (text == "")).then(pl.lit("delivered")).otherwise(
        text.replace(CHANNELS, default=text)
    )


def _seconds(typed: pl.DataFrame, intervals: IntervalsConfig) -> pl.Expr:
    if "seconds" in typed.columns:
        return _number(typed, "seconds").round(0).cast(pl.Int32, strict=False)
    if "end" in typed.columns:
        end = _instant(typed, "end", intervals.timezone)
        return (end - pl.col("start")).dt.total_seconds().cast(pl.Int32, strict=False)
    return pl.lit(intervals.interval_seconds, pl.Int32)


def _reason() -> pl.Expr:
    """The first reason a read cannot be typed, or null."""
    checks = [
        (pl.col("meter").is_null() | (pl.col("meter") == ""), rejects.METER_MISSING),
        (pl.col("start").is_null() & pl.col("local_start"), rejects.TIME_NONEXISTENT),
        (pl.col("start").is_null(), rejects.TIME_INVALID),
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

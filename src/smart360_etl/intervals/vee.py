"""VEE validation of one unit's reads, the way meter data management systems check interval data.

Every rule is one function over the unit's reads (sorted by meter, channel and start): it returns the
rows it flags (a boolean column) or, for rules about reads that are not there (gaps) or about a month
(sum_check), findings only. Days are the job's time zone's days: a spring-forward day has 23 hours
(92 quarter-hours), a fall-back day 25 (100)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from ..config.intervals import IntervalsConfig
from .normalise import MICRO

KEYS = ["meter", "channel"]
ROW_RULES = ("interval_duplicate", "interval_length_mismatch", "negative_value", "zero_run", "spike", "high_low",
             "outside_meter_dates", "never_zero")
RULE_BITS = {name: 1 << number for number, name in enumerate(ROW_RULES)}  # a read's flags, as one integer
SAMPLES = 5


def day_seconds(days: list[date], zone: str) -> dict[date, int]:
    """How long each local day is, in seconds (86,400 but at daylight-saving changes)."""
    tz = ZoneInfo(zone)
    out = {}
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        out[day] = int((end.astimezone(ZoneInfo("UTC")) - start.astimezone(ZoneInfo("UTC"))).total_seconds())
    return out


def with_days(reads: pl.DataFrame, zone: str) -> pl.DataFrame:
    return reads.with_columns(day=pl.col("start").dt.convert_time_zone(zone).dt.date())


def flags(reads: pl.DataFrame, meters: pl.DataFrame, intervals: IntervalsConfig, expected: int) -> pl.DataFrame:
    """`reads` with `vee_mask`: the RULE_BITS of the rules that flag it; `reads` must have `day`, `duplicate`."""
    vee = intervals.vee
    lengths = day_seconds(reads["day"].unique().to_list(), intervals.timezone)
    reads = reads.with_columns(complete=pl.len().over([*KEYS, "day"])
                               >= pl.col("day").replace_strict(lengths, return_dtype=pl.Int64) // expected)
    rules = {
        "interval_duplicate": (vee.interval_duplicate.enabled, pl.col("duplicate")),
        "interval_length_mismatch": (vee.interval_length_mismatch.enabled, pl.col("seconds") != expected),
        "negative_value": (vee.negative_value.enabled,
                           (pl.col("micro") < 0) & ~pl.col("channel").is_in(vee.negative_value.signed_channels)),
        "zero_run": (vee.zero_run.enabled, _zero_run(vee.zero_run.intervals)),
        "spike": (vee.spike.enabled, _spike(vee.spike.ratio, vee.spike.floor)),
        "high_low": (vee.high_low.enabled, _high_low(vee.high_low.high, vee.high_low.low)),
        "outside_meter_dates": (vee.outside_meter_dates.enabled,
                                (pl.col("day") < pl.col("installed_on")).fill_null(False)
                                | (pl.col("day") > pl.col("removed_on")).fill_null(False)),
    }
    on = {name: condition for name, (enabled, condition) in rules.items() if enabled}
    marked = reads.join(meters, on="meter", how="left").with_columns(
        **{name: condition.fill_null(False) for name, condition in on.items()}
    )
    if vee.never_zero.enabled:
        marked = marked.with_columns(never_zero=_never_zero(marked, vee.never_zero.days, vee.never_zero.services,
                                                             expected, intervals.timezone))
        on["never_zero"] = pl.col("never_zero")
    mask = pl.sum_horizontal([pl.col(n).cast(pl.Int32) * RULE_BITS[n] for n in on]) if on else pl.lit(0)
    return marked.with_columns(vee_mask=mask.cast(pl.Int32)).drop(
        [*on, "installed_on", "removed_on", "service", "complete"]
    )


def flag_names(mask: int) -> list[str]:
    return [name for name, bit in RULE_BITS.items() if mask & bit]


def _zero_run(length: int) -> pl.Expr:
    zero = pl.col("micro") == 0
    run = (~zero).cum_sum().over(KEYS)
    return zero & (pl.len().over([*KEYS, run]) - 1 >= length)


def _spike(ratio: float, floor: float) -> pl.Expr:
    day = [*KEYS, "day"]
    highest = pl.col("micro").max().over(day)
    third = pl.col("micro").top_k(3).min().over(day)
    enough = pl.len().over(day) >= 3
    return enough & (pl.col("micro") == highest) & (highest >= floor * MICRO) & (highest > ratio * third)


def _high_low(high: float, low: float) -> pl.Expr:
    """Complete days only: a partial first or last day is not low, only short."""
    total = pl.col("micro").sum().over([*KEYS, "day"])
    whole = pl.col("complete")
    days = pl.col("day").filter(whole).n_unique().over(KEYS)
    average = pl.col("micro").filter(whole).sum().over(KEYS) / days
    return whole & (days >= 3) & (average > 0) & ((total > high * average) | (total < low * average))


def _never_zero(marked: pl.DataFrame, days: int, services: list[str], expected: int, zone: str) -> pl.Series:
    lengths = day_seconds(marked["day"].unique().to_list(), zone)
    per_day = (
        marked.group_by([*KEYS, "day"])
        .agg(reads=pl.len(), lowest=pl.col("micro").min(), service=pl.col("service").first())
        .with_columns(full=pl.col("day").replace_strict(lengths, return_dtype=pl.Int64) // expected)
        .with_columns(flowing=(pl.col("reads") >= pl.col("full")) & (pl.col("lowest") > 0)
                      & pl.col("service").is_in(services))
        .sort([*KEYS, "day"])
        .with_columns(streak=(~pl.col("flowing")).cum_sum().over(KEYS))
        .with_columns(leak=pl.col("flowing") & (pl.len().over([*KEYS, "streak"]) - 1 >= days))
    )
    joined = marked.select([*KEYS, "day"]).join(per_day.select([*KEYS, "day", "leak"]), on=[*KEYS, "day"],
                                                how="left", maintain_order="left")
    return joined["leak"].fill_null(False)


def gaps(reads: pl.DataFrame, expected: int, zone: str) -> pl.DataFrame:
    """Per meter, channel and day: the intervals the day should have and those it has, where fewer.

    A meter's first and last day in the unit count from its first read and up to its last one."""
    lengths = day_seconds(reads["day"].unique().to_list(), zone)
    per_day = reads.group_by([*KEYS, "day"]).agg(
        present=pl.col("start").n_unique(), first=pl.col("start").min(), last=pl.col("start").max()
    )
    bounds = per_day.group_by(KEYS).agg(first_day=pl.col("day").min(), last_day=pl.col("day").max())
    zone_start = pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone(zone, ambiguous="earliest")
    span = (
        per_day.join(bounds, on=KEYS)
        .with_columns(length=pl.col("day").replace_strict(lengths, return_dtype=pl.Int64),
                      day_start=zone_start.dt.convert_time_zone("UTC"))
        .with_columns(
            span_start=pl.when(pl.col("day") == pl.col("first_day")).then(pl.col("first")).otherwise("day_start"),
            span_end=pl.when(pl.col("day") == pl.col("last_day"))
            .then(pl.col("last") + pl.duration(seconds=expected))
            .otherwise(pl.col("day_start") + pl.duration(seconds=pl.col("length"))),
        )
        .with_columns(expected=((pl.col("span_end") - pl.col("span_start")).dt.total_seconds() // expected))
    )
    return span.filter(pl.col("present") < pl.col("expected")).select(
        [*KEYS, "day", "expected", "present", (pl.col("expected") - pl.col("present")).alias("missing")]
    ).sort([*KEYS, "day"])


def sum_check(reads: pl.DataFrame, monthly: pl.DataFrame, tolerance: float) -> pl.DataFrame:
    """Meters whose month of delivered reads differs from the migrated monthly consumption by more than
    `tolerance` (a fraction of the migrated quantity); `monthly`: meter, quantity (in the job's unit)."""
    totals = reads.filter(pl.col("channel") == "delivered").group_by("meter").agg(
        intervals=pl.col("micro").sum() / MICRO
    )
    both = totals.join(monthly, on="meter", how="inner")
    off = (pl.col("intervals") - pl.col("quantity")).abs() > tolerance * pl.col("quantity").abs().clip(1e-9)
    return both.filter(off).sort("meter")

"""A chunk of a unit's reads made ready to load: reads of meters SMART360 does not know and duplicate
intervals rejected, the VEE flags set, the findings counted. A unit is prepared a chunk of meters at a
time, so that its memory does not grow with the meters in its bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig, TargetConfig
from . import rejects, vee
from .normalise import MICRO
from .units import canonical_unit, factor


@dataclass(frozen=True)
class UnitContext:
    """What every chunk of a unit is checked against: the migrated meters and their monthly consumption."""

    job: JobConfig
    month: date
    meters: pl.DataFrame  # meter, service, installed_on, removed_on
    monthly: pl.DataFrame  # meter, quantity (in the job's unit)


@dataclass
class Prepared:
    rows: pl.DataFrame  # meter, channel, start, seconds, micro, unit, quality, vee_mask
    rejected: pl.DataFrame
    extracted: int
    findings: dict = field(default_factory=dict)

    @property
    def micro_sum(self) -> int:
        return int(self.rows["micro"].sum() or 0)


def unit_context(conn: psycopg.Connection, job: JobConfig, month: date, numbers: list[str]) -> UnitContext:
    rows = conn.execute(sql.SQL(
        "SELECT meter_number, service, installed_on, removed_on FROM {} WHERE meter_number = ANY(%s)"
    ).format(job.target.table("meter")), [numbers]).fetchall()
    meters = pl.DataFrame(rows, schema={"meter": pl.String, "service": pl.String, "installed_on": pl.Date,
                                        "removed_on": pl.Date}, orient="row")
    return UnitContext(job, month, meters, _monthly(conn, job.target, job.intervals_section.unit, month, numbers))


def prepare(reads: pl.DataFrame, context: UnitContext) -> Prepared:
    """`reads`: some meters' staged reads, sorted by meter, channel, start and source line."""
    intervals = context.job.intervals_section
    unknown = ~reads["meter"].is_in(context.meters["meter"].implode())
    rejected = [as_rejects(reads.filter(unknown), rejects.METER_UNKNOWN)]
    kept, duplicates = _deduplicated(reads.filter(~unknown))
    kept = kept.drop("source", "line")  # only rejects are traced back to the source
    expected = intervals.interval_seconds or _usual_length(kept)
    kept = vee.with_days(kept.with_columns(pl.col("seconds").fill_null(expected)), intervals.timezone)
    flagged = vee.flags(kept, context.meters, intervals, expected)
    found = _findings(context, flagged, expected)
    return Prepared(flagged.drop("day", "duplicate"), pl.concat([*rejected, *duplicates]), reads.height, found)


def _deduplicated(reads: pl.DataFrame) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """One read per meter, channel and start: exact copies are merged (flagged, the copies rejected as
    such); the same interval with two values is rejected whole."""
    keys = ["meter", "channel", "start"]
    marked = reads.with_columns(copies=pl.len().over(keys))
    repeated = marked.filter(pl.col("copies") > 1).with_columns(
        values=pl.col("micro").n_unique().over(keys), first=pl.col("line").rank("ordinal").over(keys) == 1
    )
    conflict = repeated.filter(pl.col("values") > 1)
    copies = repeated.filter((pl.col("values") == 1) & ~pl.col("first"))
    kept = marked.filter(pl.col("copies") == 1).vstack(repeated.filter((pl.col("values") == 1) & pl.col("first"))
                                                        .drop("values", "first"))
    kept = kept.with_columns(duplicate=pl.col("copies") > 1).drop("copies").sort(["meter", "channel", "start"])
    return kept, [as_rejects(conflict, rejects.DUPLICATE_CONFLICT), as_rejects(copies, rejects.DUPLICATE_COPY)]


def as_rejects(reads: pl.DataFrame, reason: str) -> pl.DataFrame:
    row = pl.struct(meter="meter", channel="channel", start=pl.col("start").dt.to_string("%Y-%m-%dT%H:%M:%S%z"),
                    value=(pl.col("micro") / MICRO).cast(pl.String)).struct.json_encode()
    return reads.select(pl.col("source"), pl.col("line"), pl.col("meter"), pl.lit(reason).alias("reason"),
                        row.alias("row")).cast(rejects.SCHEMA)


def _usual_length(reads: pl.DataFrame) -> int:
    """The most common interval length where the source gives none: the step between a meter's reads."""
    steps = reads.select((pl.col("start").diff().over(["meter", "channel"]).dt.total_seconds()).alias("s"))
    common = steps.filter(pl.col("s") > 0)["s"].mode().sort()
    return int(common[0]) if len(common) else 900


def _findings(context: UnitContext, flagged: pl.DataFrame, expected: int) -> dict:
    """Rule -> how many reads it flagged (or meter-days, meter-months) and a few masked samples."""
    intervals, mask = context.job.intervals_section, context.job.report.mask_personal_data
    found: dict[str, dict] = {}
    marked = flagged.filter(pl.col("vee_mask") != 0)
    for rule, bit in vee.RULE_BITS.items():
        rows = marked.filter((pl.col("vee_mask") & bit) != 0)
        if not rows.is_empty():
            found[rule] = {"reads": rows.height, "samples": [
                {"meter": masked(r["meter"], mask), "channel": r["channel"], "start": r["start"].isoformat(),
                 "value": str(Decimal(r["micro"]) / MICRO)} for r in rows.head(vee.SAMPLES).iter_rows(named=True)]}
    if intervals.vee.interval_gap.enabled:
        gaps = vee.gaps(flagged, expected, intervals.timezone)
        found["interval_gap"] = {"meter_days": gaps.height, "missing_intervals": int(gaps["missing"].sum() or 0),
                                 "samples": [{**r, "meter": masked(r["meter"], mask), "day": r["day"].isoformat()}
                                             for r in gaps.head(vee.SAMPLES).iter_rows(named=True)]}
    if intervals.vee.sum_check.enabled:
        monthly = context.monthly.filter(pl.col("meter").is_in(flagged["meter"].unique().implode()))
        off = vee.sum_check(flagged, monthly, intervals.vee.sum_check.tolerance)
        found["sum_check"] = {"meter_months": off.height, "compared": monthly.height, "samples": [
            {"meter": masked(r["meter"], mask), "month": f"{context.month:%Y-%m}",
             "intervals": round(r["intervals"], 6), "migrated": r["quantity"]}
            for r in off.head(vee.SAMPLES).iter_rows(named=True)]}
    return found


def merge_findings(total: dict, part: dict) -> dict:
    """Counts added, samples kept up to vee.SAMPLES."""
    for rule, found in part.items():
        into = total.setdefault(rule, {key: 0 for key in found if key != "samples"} | {"samples": []})
        for key, value in found.items():
            if key == "samples":
                into["samples"] = (into["samples"] + value)[: vee.SAMPLES]
            else:
                into[key] = into.get(key, 0) + value
    return total


def masked(meter: str, mask: bool) -> str:
    if not mask:
        return meter
    return meter[:2] + "*" * max(len(meter) - 4, 1) + meter[-2:] if len(meter) > 4 else meter[:1] + "***"


def _monthly(conn: psycopg.Connection, target: TargetConfig, target_unit: str, month: date,
             meters: list[str]) -> pl.DataFrame:
    """The monthly consumption the consumer job migrated for these meters, in the intervals' unit."""
    rows = conn.execute(sql.SQL(
        "SELECT meter_number, quantity::float8, unit FROM {} WHERE period = %s AND meter_number = ANY(%s)"
    ).format(target.table("consumption_reading")), [month, meters]).fetchall()
    converted = []
    for meter, quantity, unit in rows:
        known = canonical_unit(unit)
        ratio = factor(known, target_unit) if known else None
        if ratio is not None:
            converted.append((meter, quantity * float(ratio)))
    return pl.DataFrame(converted, schema={"meter": pl.String, "quantity": pl.Float64}, orient="row")

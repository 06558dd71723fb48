"""One unit of work: a month and a bucket of meters. Its staged reads are checked against the migrated
meters, de-duplicated, flagged by the VEE rules, copied into a new table, reconciled (count and exact sum)
and swapped in for the unit's partition, with its rejects and its ledger row, in one transaction."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig, TargetConfig
from ..db import connect, one_row
from ..errors import EtlError, TargetError
from . import partitions, rejects, vee
from .normalise import MICRO, unit_key
from .units import canonical_unit, factor

COPY_ROWS = 50_000


class ReconciliationFailed(EtlError):
    """What the database holds after the COPY is not what the unit sent: the unit is rolled back."""


@dataclass(frozen=True)
class UnitKey:
    month: date
    bucket: int

    @property
    def key(self) -> str:
        return unit_key(self.month, self.bucket)

    @classmethod
    def parse(cls, key: str) -> UnitKey:
        try:
            month, bucket = key.split("/b")
            return cls(date.fromisoformat(month + "-01"), int(bucket))
        except ValueError:
            raise EtlError(f"`{key}` is not a unit key; `intervals plan` lists them, e.g. 2026-03/b007") from None


def stage_folder(stage_dir: Path, run_id: str, key: str) -> Path:
    return stage_dir / run_id / key.replace("/", "_")


def target_conn(target: TargetConfig, autocommit: bool = False) -> psycopg.Connection:
    return connect(target.url, target.connect_retries, "the SMART360 target", "target.url", TargetError,
                   autocommit=autocommit)


def run_unit(job: JobConfig, run_id: str, key: str,
             writer_slot: Callable[[], AbstractContextManager[object]] = nullcontext) -> dict:
    """Run one unit; returns its counts and findings. Raises (after recording the error) when it fails."""
    unit = UnitKey.parse(key)
    intervals = job.intervals_section
    with target_conn(job.target, autocommit=True) as ledger:
        _attempt_started(ledger, job.target, run_id, key)
    try:
        reads = _staged(intervals.stage_dir, run_id, key)
        with target_conn(job.target, autocommit=True) as conn:
            prepared = _prepare(conn, job, unit, reads)
            with writer_slot():
                _write(conn, job, run_id, unit, prepared)
        return prepared.summary
    except Exception as exc:
        with target_conn(job.target, autocommit=True) as ledger:
            ledger.execute(sql.SQL("UPDATE {} SET status = 'failed', error = %s, finished_at = clock_timestamp() "
                                   "WHERE run_id = %s AND unit_key = %s").format(job.target.table("interval_unit")),
                           [f"{type(exc).__name__}: {exc}"[:2000], run_id, key])
        raise


def _attempt_started(conn: psycopg.Connection, target: TargetConfig, run_id: str, key: str) -> None:
    conn.execute(sql.SQL(
        "INSERT INTO {} (run_id, unit_key, status, attempts, started_at) VALUES (%s, %s, 'running', 1, "
        "clock_timestamp()) ON CONFLICT (run_id, unit_key) DO UPDATE SET status = 'running', "
        "attempts = {}.attempts + 1, started_at = clock_timestamp(), error = NULL"
    ).format(target.table("interval_unit"), sql.Identifier("interval_unit")), [run_id, key])


def _staged(stage_dir: Path, run_id: str, key: str) -> pl.DataFrame:
    folder = stage_folder(stage_dir, run_id, key)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise EtlError(f"unit {key} has no staged reads in {folder}: was it planned by this run?")
    return pl.read_parquet(files).sort(["meter", "channel", "start", "line"])


@dataclass
class Prepared:
    rows: pl.DataFrame
    rejected: pl.DataFrame
    summary: dict


def _prepare(conn: psycopg.Connection, job: JobConfig, unit: UnitKey, reads: pl.DataFrame) -> Prepared:
    intervals = job.intervals_section
    staged = reads.height
    meters = _known_meters(conn, job.target, reads["meter"].unique().to_list())
    unknown = ~reads["meter"].is_in(meters["meter"])
    rejected = [_as_rejects(reads.filter(unknown), rejects.METER_UNKNOWN)]
    reads, duplicates = _deduplicated(reads.filter(~unknown))
    reads = reads.drop("source", "line")  # only rejects are traced back to the source
    rejected += duplicates
    expected = intervals.interval_seconds or _usual_length(reads)
    reads = vee.with_days(reads.with_columns(pl.col("seconds").fill_null(expected)), intervals.timezone)
    flagged = vee.flags(reads, meters, intervals, expected)
    findings = _findings(conn, job, unit, flagged, expected)
    rejected_frame = pl.concat(rejected)
    counts = {"extracted": staged, "rejected": rejected_frame.height}
    summary = {"key": unit.key, "counts": counts, "findings": findings,
               "sum": str(Decimal(int(flagged["micro"].sum() or 0)) / MICRO), "rows": flagged.height,
               "rejects_by_reason": dict(rejected_frame["reason"].value_counts().iter_rows())}
    return Prepared(flagged, rejected_frame, summary)


def _known_meters(conn: psycopg.Connection, target: TargetConfig, numbers: list[str]) -> pl.DataFrame:
    rows = conn.execute(sql.SQL(
        "SELECT meter_number, service, installed_on, removed_on FROM {} WHERE meter_number = ANY(%s)"
    ).format(target.table("meter")), [numbers]).fetchall()
    return pl.DataFrame(rows, schema={"meter": pl.String, "service": pl.String, "installed_on": pl.Date,
                                      "removed_on": pl.Date}, orient="row")


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
    return kept, [_as_rejects(conflict, rejects.DUPLICATE_CONFLICT), _as_rejects(copies, rejects.DUPLICATE_COPY)]


def _as_rejects(reads: pl.DataFrame, reason: str) -> pl.DataFrame:
    row = pl.struct(meter="meter", channel="channel", start=pl.col("start").dt.to_string("%Y-%m-%dT%H:%M:%S%z"),
                    value=(pl.col("micro") / MICRO).cast(pl.String)).struct.json_encode()
    return reads.select(pl.col("source"), pl.col("line"), pl.col("meter"), pl.lit(reason).alias("reason"),
                        row.alias("row")).cast(rejects.SCHEMA)


def _usual_length(reads: pl.DataFrame) -> int:
    """The most common interval length where the source gives none: the step between a meter's reads."""
    steps = reads.select((pl.col("start").diff().over(["meter", "channel"]).dt.total_seconds()).alias("s"))
    common = steps.filter(pl.col("s") > 0)["s"].mode().sort()
    return int(common[0]) if len(common) else 900


def _findings(conn: psycopg.Connection, job: JobConfig, unit: UnitKey, flagged: pl.DataFrame, expected: int) -> dict:
    """Rule -> how many reads it flagged (or meter-days, meter-months) and a few masked samples."""
    intervals, mask = job.intervals_section, job.report.mask_personal_data
    found: dict[str, dict] = {}
    marked = flagged.filter(pl.col("vee_mask") != 0)
    for rule, bit in vee.RULE_BITS.items():
        rows = marked.filter((pl.col("vee_mask") & bit) != 0)
        if rows.is_empty():
            continue
        found[rule] = {"reads": rows.height, "samples": [
            {"meter": _masked(r["meter"], mask), "channel": r["channel"], "start": r["start"].isoformat(),
             "value": str(Decimal(r["micro"]) / MICRO)} for r in rows.head(vee.SAMPLES).iter_rows(named=True)]}
    if intervals.vee.interval_gap.enabled:
        gaps = vee.gaps(flagged, expected, intervals.timezone)
        found["interval_gap"] = {"meter_days": gaps.height, "missing_intervals": int(gaps["missing"].sum() or 0),
                                 "samples": [{**r, "meter": _masked(r["meter"], mask), "day": r["day"].isoformat()}
                                             for r in gaps.head(vee.SAMPLES).iter_rows(named=True)]}
    if intervals.vee.sum_check.enabled:
        monthly = _monthly(conn, job, unit.month, flagged["meter"].unique().to_list())
        off = vee.sum_check(flagged, monthly, intervals.vee.sum_check.tolerance)
        found["sum_check"] = {"meter_months": off.height, "compared": monthly.height, "samples": [
            {"meter": _masked(r["meter"], mask), "month": f"{unit.month:%Y-%m}", "intervals": round(r["intervals"], 6),
             "migrated": r["quantity"]} for r in off.head(vee.SAMPLES).iter_rows(named=True)]}
    return found


def _masked(meter: str, mask: bool) -> str:
    if not mask:
        return meter
    return meter[:2] + "*" * max(len(meter) - 4, 1) + meter[-2:] if len(meter) > 4 else meter[:1] + "***"


def _monthly(conn: psycopg.Connection, job: JobConfig, month: date, meters: list[str]) -> pl.DataFrame:
    """The monthly consumption the consumer job migrated for these meters, in the intervals' unit."""
    rows = conn.execute(sql.SQL(
        "SELECT meter_number, quantity::float8, unit FROM {} WHERE period = %s AND meter_number = ANY(%s)"
    ).format(job.target.table("consumption_reading")), [month, meters]).fetchall()
    target_unit = job.intervals_section.unit
    converted = []
    for meter, quantity, unit in rows:
        known = canonical_unit(unit)
        ratio = factor(known, target_unit) if known else None
        if ratio is not None:
            converted.append((meter, quantity * float(ratio)))
    return pl.DataFrame(converted, schema={"meter": pl.String, "quantity": pl.Float64}, orient="row")


def _copy_text(rows: pl.DataFrame) -> pl.DataFrame:
    size = pl.col("micro").abs()
    value = pl.concat_str([pl.when(pl.col("micro") < 0).then(pl.lit("-")).otherwise(pl.lit("")),
                           (size // MICRO).cast(pl.String), pl.lit("."), (size % MICRO).cast(pl.String).str.zfill(6)])
    masks = rows["vee_mask"].unique().to_list()
    arrays = {m: "{" + ",".join(vee.flag_names(m)) + "}" for m in masks if m}
    flags = pl.col("vee_mask").replace_strict(arrays, default=None, return_dtype=pl.String)
    return rows.select(pl.col("meter").alias("meter_number"), "channel", pl.col("start").alias("interval_start"),
                       "seconds", value.alias("value"), "unit", "quality", flags.alias("vee_flags"),
                       pl.col("bucket").alias("meter_bucket"))


def _copy(conn: psycopg.Connection, table: sql.Composable, frame: pl.DataFrame, columns: tuple[str, ...],
          freeze: bool = False, as_text: Callable[[pl.DataFrame], pl.DataFrame] = lambda part: part) -> None:
    """COPY `frame` in slices (each turned into the columns' text by `as_text` only when it is sent)."""
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv{})").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(", FREEZE" if freeze else ""))
    with conn.cursor().copy(query) as copy:
        for start in range(0, frame.height, COPY_ROWS):
            buffer = io.BytesIO()
            as_text(frame.slice(start, COPY_ROWS)).write_csv(buffer, include_header=False,
                                                             datetime_format="%Y-%m-%d %H:%M:%S%.f%z")
            copy.write(buffer.getvalue())


def _write(conn: psycopg.Connection, job: JobConfig, run_id: str, unit: UnitKey, prepared: Prepared) -> None:
    target, intervals = job.target, job.intervals_section
    buckets = json.loads((intervals.stage_dir / run_id / "plan.json").read_text())["buckets"][f"{unit.month:%Y-%m}"]
    partitions.ensure_month(conn, target, unit.month, intervals.timezone, buckets)
    leaf = sql.Identifier(target.schema_, partitions.leaf_name(unit.month, unit.bucket))
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{intervals.lock_timeout_s}s")))
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     [f"smart360-etl:{target.schema_}:{unit.key}"])
        incoming = partitions.create_incoming(conn, target, unit.month, unit.bucket, intervals.timezone)
        _copy(conn, incoming, prepared.rows, partitions.COLUMNS, freeze=True,
              as_text=lambda part: _copy_text(part.with_columns(bucket=pl.lit(unit.bucket, pl.Int16))))
        _reconcile(conn, incoming, prepared)
        counts = partitions.compare_and_keep(conn, incoming, leaf)
        partitions.swap_in(conn, target, unit.month, unit.bucket, incoming)
        _record(conn, target, run_id, unit, prepared, counts)


def _reconcile(conn: psycopg.Connection, incoming: sql.Identifier, prepared: Prepared) -> None:
    count, total = one_row(conn.execute(sql.SQL("SELECT count(*), coalesce(sum(value), 0) FROM {}").format(incoming)))
    expected = Decimal(prepared.summary["sum"])
    if count != prepared.rows.height or total != expected:
        raise ReconciliationFailed(
            f"unit {prepared.summary['key']}: the database holds {count} reads summing to {total}, "
            f"the unit sent {prepared.rows.height} summing to {expected}; rolled back"
        )


def _record(conn: psycopg.Connection, target: TargetConfig, run_id: str, unit: UnitKey, prepared: Prepared,
            counts: dict[str, int]) -> None:
    conn.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s AND unit_key = %s").format(target.table("interval_reject")),
                 [run_id, unit.key])
    _copy(conn, target.table("interval_reject"),
          prepared.rejected.with_columns(run_id=pl.lit(run_id), unit_key=pl.lit(unit.key))
          .select("run_id", "unit_key", "source", "meter", "reason", "row"),
          ("run_id", "unit_key", "source", "meter_number", "reason", "source_row"))
    summary = prepared.summary
    summary["counts"] = {**summary["counts"], **counts}
    summary["target_sum"] = summary["sum"]
    conn.execute(sql.SQL(
        "UPDATE {} SET status = 'done', counts = %s, findings = %s, error = NULL, finished_at = clock_timestamp() "
        "WHERE run_id = %s AND unit_key = %s"
    ).format(target.table("interval_unit")), [json.dumps({k: v for k, v in summary.items() if k != "findings"}),
                                              json.dumps(summary["findings"]), run_id, unit.key])

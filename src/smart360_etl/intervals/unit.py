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
from ..load.schema import require_migrated
from . import partitions, vee
from .normalise import MICRO, unit_key
from .prepare import UnitContext, merge_findings, prepare, unit_context

COPY_ROWS = 50_000
CHUNK_READS = 100_000  # reads prepared at a time: bounds a unit's memory whatever its size


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
    """Run one unit; returns its summary. Raises (after recording the error) when it fails."""
    unit = UnitKey.parse(key)
    intervals = job.intervals_section
    with target_conn(job.target, autocommit=True) as ledger:
        require_migrated(ledger, job.target)
        if ledger.execute(sql.SQL("SELECT FROM {} WHERE run_id = %s").format(job.target.table("run")),
                          [run_id]).fetchone() is None:
            raise EtlError(f"no run {run_id} on this target: `smart360-etl intervals plan` prints the run to give")
        _attempt_started(ledger, job.target, run_id, key)
    try:
        files = _staged_files(intervals.stage_dir, run_id, key)
        chunks = _meter_chunks(files)
        plan = json.loads((intervals.stage_dir / run_id / "plan.json").read_text())
        with target_conn(job.target, autocommit=True) as conn:
            context = unit_context(conn, job, unit.month, [m for chunk in chunks for m in chunk])
            partitions.ensure_month(conn, job.target, unit.month, intervals.timezone,
                                    plan["buckets"][f"{unit.month:%Y-%m}"])
            with writer_slot():
                return _write(conn, run_id, unit, files, chunks, context)
    except Exception as exc:
        with target_conn(job.target, autocommit=True) as ledger:
            ledger.execute(sql.SQL("UPDATE {} SET status = 'failed', error = %s, finished_at = clock_timestamp() "
                                   "WHERE run_id = %s AND unit_key = %s").format(job.target.table("interval_unit")),
                           [one_line(exc)[:2000], run_id, key])
        raise


def one_line(exc: BaseException) -> str:
    """The error's kind and message on one line (PostgreSQL's own spread over several)."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _attempt_started(conn: psycopg.Connection, target: TargetConfig, run_id: str, key: str) -> None:
    conn.execute(sql.SQL(
        "INSERT INTO {} (run_id, unit_key, status, attempts, started_at) VALUES (%s, %s, 'running', 1, "
        "clock_timestamp()) ON CONFLICT (run_id, unit_key) DO UPDATE SET status = 'running', "
        "attempts = {}.attempts + 1, started_at = clock_timestamp(), error = NULL"
    ).format(target.table("interval_unit"), sql.Identifier("interval_unit")), [run_id, key])


def _staged_files(stage_dir: Path, run_id: str, key: str) -> list[Path]:
    folder = stage_folder(stage_dir, run_id, key)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise EtlError(f"unit {key} has no staged reads in {folder}: was it planned by this run?")
    return files


def _meter_chunks(files: list[Path]) -> list[list[str]]:
    """The unit's meters in groups of about CHUNK_READS reads (a meter is never split)."""
    counts = pl.scan_parquet(files).group_by("meter").len().sort("meter").collect()
    chunks: list[list[str]] = [[]]
    size = 0
    for meter, reads in counts.iter_rows():
        if size and size + reads > CHUNK_READS:
            chunks.append([])
            size = 0
        chunks[-1].append(meter)
        size += reads
    return chunks


def _chunk(files: list[Path], meters: list[str]) -> pl.DataFrame:
    return (pl.scan_parquet(files).filter(pl.col("meter").is_in(meters)).collect()
            .sort(["meter", "channel", "start", "line"]))


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


def copy_frame(conn: psycopg.Connection, table: sql.Composable, frame: pl.DataFrame, columns: tuple[str, ...],
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


def _write(conn: psycopg.Connection, run_id: str, unit: UnitKey, files: list[Path], chunks: list[list[str]],
           context: UnitContext) -> dict:
    target, intervals = context.job.target, context.job.intervals_section
    leaf = sql.Identifier(target.schema_, partitions.leaf_name(unit.month, unit.bucket))
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{intervals.lock_timeout_s}s")))
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     [f"smart360-etl:{target.schema_}:{unit.key}"])
        incoming = partitions.create_incoming(conn, target, unit.month, unit.bucket, intervals.timezone)
        conn.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s AND unit_key = %s").format(
            target.table("interval_reject")), [run_id, unit.key])
        totals = {"extracted": 0, "rejected": 0, "rows": 0, "micro": 0}
        findings: dict = {}
        reasons: dict[str, int] = {}
        for meters in chunks:
            prepared = prepare(_chunk(files, meters), context)
            copy_frame(conn, incoming, prepared.rows, partitions.COLUMNS, freeze=True,
                  as_text=lambda part: _copy_text(part.with_columns(bucket=pl.lit(unit.bucket, pl.Int16))))
            copy_rejects(conn, target, run_id, unit.key, prepared.rejected)
            for name, value in (("extracted", prepared.extracted), ("rejected", prepared.rejected.height),
                                ("rows", prepared.rows.height), ("micro", prepared.micro_sum)):
                totals[name] += value
            for reason, n in prepared.rejected["reason"].value_counts().iter_rows():
                reasons[reason] = reasons.get(reason, 0) + n
            merge_findings(findings, prepared.findings)
        total = Decimal(totals["micro"]) / MICRO
        held = _reconcile(conn, incoming, unit.key, totals["rows"], total)
        counts = partitions.compare_and_keep(conn, incoming, leaf, totals["rows"])
        partitions.swap_in(conn, target, unit.month, unit.bucket, incoming)
        summary = {"key": unit.key, "counts": {"extracted": totals["extracted"], "rejected": totals["rejected"],
                                               **counts},
                   "sum": str(total), "target_sum": str(held), "rows": totals["rows"], "rejects_by_reason": reasons}
        conn.execute(sql.SQL(
            "UPDATE {} SET status = 'done', counts = %s, findings = %s, error = NULL, finished_at = clock_timestamp() "
            "WHERE run_id = %s AND unit_key = %s"
        ).format(target.table("interval_unit")), [json.dumps(summary), json.dumps(findings), run_id, unit.key])
    return {**summary, "findings": findings}


def _reconcile(conn: psycopg.Connection, incoming: sql.Identifier, key: str, rows: int, total: Decimal) -> Decimal:
    """What the database holds is what the unit sent, read by count and exact sum; returns the sum held."""
    count, held = one_row(conn.execute(sql.SQL("SELECT count(*), coalesce(sum(value), 0) FROM {}").format(incoming)))
    if count != rows or held != total:
        raise ReconciliationFailed(
            f"unit {key}: the database holds {count} reads summing to {held}, the unit sent {rows} summing to "
            f"{total}; rolled back"
        )
    return held


def copy_rejects(conn: psycopg.Connection, target: TargetConfig, run_id: str, key: str,
                  rejected: pl.DataFrame) -> None:
    if rejected.is_empty():
        return
    copy_frame(conn, target.table("interval_reject"),
          rejected.with_columns(run_id=pl.lit(run_id), unit_key=pl.lit(key))
          .select("run_id", "unit_key", "source", "line", "meter", "reason", "row"),
          ("run_id", "unit_key", "source", "line", "meter_number", "reason", "source_row"))

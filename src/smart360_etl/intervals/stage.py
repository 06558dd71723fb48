"""Planning a run: the source is read once, normalised, and split into units of work (a month and a bucket
of meters), each unit's reads written as Parquet files under `stage_dir/<run_id>/`; reads that cannot be
typed are rejected there. `plan.json` lists the units, so that any process (a pool, a Dask worker, an
orchestrator's task) can run one."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from ..config.intervals import IntervalsConfig
from . import rejects
from .normalise import normalise, unit_key
from .read import read_frames, source_files


@dataclass(frozen=True)
class Plan:
    run_id: str
    extracted: int  # read from the source
    rejected: pl.DataFrame  # rejected while reading (cannot be typed: no unit)
    units: dict[str, int]  # unit key -> staged reads
    buckets: dict[str, int]  # month (YYYY-MM) -> meter buckets

    def as_json(self) -> dict:
        reasons = dict(sorted(self.rejected["reason"].value_counts().iter_rows()))
        return {"run_id": self.run_id, "extracted": self.extracted, "rejected_at_read": self.rejected.height,
                "rejects_at_read": reasons,
                "units": [{"key": k, "reads": n} for k, n in sorted(self.units.items())], "buckets": self.buckets}


def plan_file(stage_dir: Path, run_id: str) -> Path:
    return stage_dir / run_id / "plan.json"


def stage(intervals: IntervalsConfig, run_id: str, existing: dict[date, int],
          on_progress: Callable[[int], None] | None = None) -> Plan:
    """Read and split the source; `existing`: months with partitions -> their bucket count. Files are
    staged side by side in `executor.workers` processes."""
    root = intervals.stage_dir / run_id
    root.mkdir(parents=True, exist_ok=True)
    files: list[Path | None] = [None] if intervals.source.kind == "table" else list(source_files(intervals))
    workers = min(intervals.executor.workers, len(files))
    parts: list[_Staged] = []
    if workers <= 1:
        parts = [_stage_one(intervals, root, existing, number, path) for number, path in enumerate(files)]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_stage_one, intervals, root, existing, n, p) for n, p in enumerate(files)]
            for future in futures:
                parts.append(future.result())
                if on_progress:
                    on_progress(parts[-1].extracted)
    units: dict[str, int] = {}
    for part in parts:
        for key, reads in part.units.items():
            units[key] = units.get(key, 0) + reads
    months = sorted({month for part in parts for month in part.months})
    buckets = {f"{m:%Y-%m}": existing.get(m, intervals.partitions.meter_buckets) for m in months}
    at_read = pl.concat([p.rejected for p in parts]) if parts else pl.DataFrame(schema=rejects.SCHEMA)
    plan = Plan(run_id, sum(p.extracted for p in parts), at_read, units, buckets)
    plan_file(intervals.stage_dir, run_id).write_text(json.dumps(plan.as_json(), indent=1))
    return plan


@dataclass(frozen=True)
class _Staged:
    extracted: int
    units: dict[str, int]
    months: set[date]
    rejected: pl.DataFrame


def _stage_one(intervals: IntervalsConfig, root: Path, existing: dict[date, int], number: int,
               path: Path | None) -> _Staged:
    """One file (or the table) read, normalised and written by unit as part-<file>-<batch>.parquet."""
    units: dict[str, int] = {}
    months: set[date] = set()
    rejected, extracted = [], 0
    for batch, frame in enumerate(read_frames(intervals, path)):
        normalised = normalise(frame, intervals, existing)
        extracted += frame.height
        rejected.append(normalised.rejected)
        for (month, bucket), part in normalised.reads.partition_by(["month", "bucket"], as_dict=True).items():
            key = unit_key(month, bucket)
            folder = root / key.replace("/", "_")
            folder.mkdir(exist_ok=True)
            part.drop("month", "bucket").write_parquet(folder / f"part-{number:05d}-{batch:05d}.parquet",
                                                       compression="lz4")
            units[key] = units.get(key, 0) + part.height
            months.add(month)
    return _Staged(extracted, units, months, pl.concat(rejected) if rejected else pl.DataFrame(schema=rejects.SCHEMA))


def read_plan(stage_dir: Path, run_id: str) -> dict:
    path = plan_file(stage_dir, run_id)
    if not path.is_file():
        from ..errors import EtlError

        raise EtlError(f"run {run_id} has no plan in {path.parent}: plan it again (`intervals plan`)")
    return json.loads(path.read_text())

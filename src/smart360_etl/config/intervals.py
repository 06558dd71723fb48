"""The job file's `intervals:` section: where meter interval reads come from, how they are cut into units
of work (a month and a bucket of meters), which executor runs the units, and each VEE rule's threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ..urls import normalise_database_url
from .base import StrictModel


class IntervalSourceConfig(StrictModel):
    """Exactly one of: CSV files, Parquet files, Green Button (ESPI) XML files (globs), or a database table."""

    csv: str | None = Field(None, description="a path or glob of CSV files, e.g. reads/*.csv")
    parquet: str | None = Field(None, description="a path or glob of Parquet files")
    green_button: str | None = Field(None, description="a path or glob of Green Button ESPI XML files")
    url: str | None = Field(None, description="a database URL (postgresql://, mysql://, ...) with `table`")
    table: str | None = Field(None, description="the table of reads, optionally schema-qualified")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field separator")
    encoding: str = Field("utf-8", description="CSV file encoding")

    @field_validator("url")
    @classmethod
    def _database_url(cls, url: str | None) -> str | None:
        return None if url is None else normalise_database_url(url, "intervals.source.url")

    @model_validator(mode="after")
    def _one_kind(self) -> IntervalSourceConfig:
        if sum(x is not None for x in (self.csv, self.parquet, self.green_button, self.url)) != 1:
            raise ValueError("give exactly one of `csv`, `parquet`, `green_button` (paths or globs) or `url`")
        if (self.url is None) != (self.table is None):
            raise ValueError("`url` and `table` go together: the database and the table of reads")
        return self

    @property
    def kind(self) -> str:
        for kind in ("csv", "parquet", "green_button"):
            if getattr(self, kind) is not None:
                return kind
        return "table"


class IntervalColumns(StrictModel):
    """The source's column for each part of a read; only meter, start and value are required."""

    meter: str = Field("meter_number", description="the meter's number, as the consumer job migrated it")
    start: str = Field("read_start", description="the interval's start: ISO 8601 (offset or not) or epoch seconds")
    value: str = Field("value", description="the quantity measured over the interval")
    seconds: str | None = Field(None, description="the interval's length in seconds")
    end: str | None = Field(None, description="the interval's end, when the length is not given")
    channel: str | None = Field(None, description="delivered, received or net (default: delivered)")
    unit: str | None = Field(None, description="the value's unit per read (default: `intervals.unit`)")
    quality: str | None = Field(None, description="the source's quality code, kept as text")
    multiplier: str | None = Field(None, description="a factor each value is multiplied by (CT/PT ratio)")


class PartitionsConfig(StrictModel):
    by: Literal["month"] = Field("month", description="one partition per month of the job's time zone")
    meter_buckets: int = Field(16, ge=1, le=1024, description="meters are hashed into this many buckets a month")


class ExecutorConfig(StrictModel):
    kind: Literal["local", "dask"] = Field("local", description="local: a process pool; dask: a Dask cluster")
    workers: int = Field(2, ge=1, le=256, description="local processes (or LocalCluster workers for dask)")
    scheduler: str | None = Field(None, description="dask: the scheduler, e.g. tcp://scheduler:8786")
    writers: int = Field(4, ge=1, le=256, description="dask: units writing to the database at once")
    retries: int = Field(2, ge=0, le=20, description="times a failed unit is tried again")


class Rule(StrictModel):
    enabled: bool = Field(True, description="false switches the rule off")


class ZeroRun(Rule):
    intervals: int = Field(16, ge=2, description="this many consecutive zero reads are flagged")


class NeverZero(Rule):
    days: int = Field(3, ge=1, description="complete days in a row without one zero read: a leak")
    services: list[str] = Field(["WATER"], description="meter services the rule is for")


class Spike(Rule):
    ratio: float = Field(10.0, gt=1, description="a day's highest read against its third highest")
    floor: float = Field(0.5, ge=0, description="highest reads below this are never spikes")


class HighLow(Rule):
    high: float = Field(4.0, gt=1, description="a day's total above this times the meter's daily average")
    low: float = Field(0.1, ge=0, lt=1, description="a day's total below this times the meter's daily average")


class SumCheck(Rule):
    tolerance: float = Field(0.02, ge=0, description="allowed difference against the migrated monthly reading")


class NegativeValue(Rule):
    signed_channels: list[str] = Field(["received", "net"], description="channels where negative reads are normal")


class VeeConfig(StrictModel):
    interval_gap: Rule = Field(default_factory=Rule, description="missing intervals per meter-day")
    interval_duplicate: Rule = Field(default_factory=Rule, description="the same interval twice, same value")
    interval_length_mismatch: Rule = Field(default_factory=Rule, description="length other than expected")
    negative_value: NegativeValue = Field(default_factory=NegativeValue, description="negative reads")
    zero_run: ZeroRun = Field(default_factory=ZeroRun, description="consecutive zero reads")
    never_zero: NeverZero = Field(default_factory=NeverZero, description="flow that never stops")
    spike: Spike = Field(default_factory=Spike, description="a day's highest read far above the rest")
    high_low: HighLow = Field(default_factory=HighLow, description="a day far from the meter's average")
    outside_meter_dates: Rule = Field(default_factory=Rule, description="before installation, after removal")
    sum_check: SumCheck = Field(default_factory=SumCheck, description="a month against migrated consumption")


class IntervalsConfig(StrictModel):
    """Meter interval reads: the second pipeline, into `smart360.interval_reading`."""

    source: IntervalSourceConfig
    columns: IntervalColumns = Field(default_factory=IntervalColumns, description="source column per part")
    interval_seconds: int | None = Field(900, gt=0, le=86_400, description="expected length; null: from the data")
    unit: str = Field("kWh", description="the unit values are converted to (kWh, Wh, MWh, m3, L, gal, ft3, CCF)")
    timezone: str = Field("UTC", description="for local timestamps without an offset, days and months")
    partitions: PartitionsConfig = Field(default_factory=PartitionsConfig, description="units of work")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="what runs the units")
    stage_dir: Path = Field(Path("intervals-stage"), description="reads split by unit; shared storage on a cluster")
    lock_timeout_s: float = Field(60, gt=0, description="a unit waits this long for its partition, then fails")
    batch_size: int = Field(100_000, gt=0, description="source rows read at a time; bounds memory")
    vee: VeeConfig = Field(default_factory=VeeConfig, description="VEE rules and thresholds")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"`{zone}` is not an IANA time zone, e.g. America/Chicago or Europe/Berlin") from None
        return zone

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        from ..intervals.units import canonical_unit

        known = canonical_unit(unit)
        if known is None:
            raise ValueError(f"`{unit}` is not a unit this tool converts; use kWh, Wh, MWh, m3, L, gal, ft3 or CCF")
        return known

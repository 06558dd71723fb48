"""The job file's typed sections (pydantic): what each key takes, its default, and the checks between keys."""

from __future__ import annotations

import difflib
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from psycopg import sql
from pydantic import Field, field_validator, model_validator

from .. import reasons
from ..regions import Region, region_for
from ..urls import ENGINES, normalise_database_url, url_engine
from .base import StrictModel
from .intervals import IntervalsConfig
from .operations import AlertsConfig, LoggingConfig, ScheduleConfig

SOURCE_ENGINES = tuple(sorted(set(ENGINES.values())))

# The reasons, from their catalog (reasons.py): soft ones warn unless `reasons:` says reject; hard ones
# always reject, because SMART360 cannot hold a consumer without an id, a name or a first address line,
# nor a value longer than its column (cutting it would lose data); account ones reject a record whole.
SOFT_REASONS, HARD_REASONS, ACCOUNT_REASONS = reasons.SOFT, reasons.HARD, reasons.ACCOUNT
NULLING_REASONS = reasons.NULLING  # warnings that null their field (the source value stays in `warning`)
Disposition = Literal["reject", "warn"]


class IncrementalConfig(StrictModel):
    """Extract only what changed since the last successful run."""

    mode: Literal["column", "compare"] = Field(
        "column", description="column: rows whose `column` moved past the watermark; compare: row hashes"
    )
    column: str | None = Field(None, description="a timestamp (or ever-growing number) set on every change")
    overlap: str = Field("0s", description="re-read this much before the watermark, e.g. 10m, 1h (column mode)")
    deletes: Literal["ignore", "mark_inactive", "report"] = Field(
        "report", description="what to do with consumers whose source row disappeared"
    )

    @model_validator(mode="after")
    def _column_mode_needs_a_column(self) -> IncrementalConfig:
        if self.mode == "column" and not self.column:
            raise ValueError("give `column` (e.g. updated_at), or `mode: compare` when the source has none")
        parse_duration(self.overlap)
        return self


def parse_duration(text: str) -> timedelta:
    """'90s', '10m', '2h', '1d' (or a bare number of seconds) as a timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match:
        raise ValueError(f"`{text}` is not a duration; write e.g. 30s, 10m, 2h or 1d")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)


class SourceConfig(StrictModel):
    """Where consumer records come from: a database table or query, or a file."""

    url: str | None = Field(
        None, description="the legacy database: postgresql://, mysql:// (or mariadb://), sqlite:///, mssql://, oracle://"
    )
    table: str | None = Field(None, description="table to read, optionally schema-qualified")
    query: str | None = Field(None, description="a SELECT to read instead of a table")
    csv: Path | None = Field(None, description="a CSV export to read instead of a database")
    file: Path | None = Field(None, description="a CSV, Excel (.xlsx) or Parquet file, told apart by its content")
    sheet: str | int | None = Field(None, description="Excel: the sheet, by name or 0-based index (default: the first)")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field separator")
    encoding: str = Field("utf-8", description="CSV file encoding, e.g. latin-1 or cp1252")
    batch_size: int | None = Field(
        None, gt=0, description="records per batch; bounds memory (default 25,000; 15,000 with `accounts`)"
    )
    connect_retries: int = Field(3, ge=0, description="retries of a failed connection, with backoff")
    incremental: IncrementalConfig | None = Field(None, description="extract only what changed")

    @field_validator("url")
    @classmethod
    def _database_url(cls, url: str | None) -> str | None:
        return None if url is None else normalise_database_url(url, "source.url", SOURCE_ENGINES)

    @property
    def incremental_section(self) -> IncrementalConfig:
        """`incremental:`, for the code that runs only when the job has one."""
        if self.incremental is None:
            raise ValueError("the job's source has no `incremental:` section")
        return self.incremental

    @property
    def kind(self) -> str:
        """The entry of sources.SOURCE_KINDS that reads this source."""
        if self.csv is not None:
            return "csv"
        if self.file is not None:
            return "file"
        return url_engine(self.url or "")

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if sum(x is not None for x in (self.url, self.csv, self.file)) != 1:
            raise ValueError("give exactly one of `url` (a database URL), `csv` or `file` (a file path)")
        if self.url is not None and (self.table is None) == (self.query is None):
            raise ValueError("with `url`, give exactly one of `table` or `query`")
        if self.url is not None and re.sub(r"[-_ ]", "", self.encoding.lower()) != "utf8":
            raise ValueError(
                "`source.encoding` is for CSV files; a database sends its text in its own encoding (for a "
                "SQL_ASCII database, convert the data or set the server's client_encoding)"
            )
        if self.url is None and self.incremental is not None and self.incremental.mode == "column":
            raise ValueError("a file has no change column to follow: use `incremental: {mode: compare}`")
        if self.sheet is not None and self.file is None:
            raise ValueError("`sheet` is for an Excel workbook given as `file`")
        return self


# The target's tables: SMART360's own (in `schema`), and this tool's bookkeeping (in `etl_schema`).
TARGET_TABLES = ("consumer", "tariff_plan", "account", "meter", "consumption_reading", "interval_reading")
ETL_TABLES = (
    "run",
    "reject",
    "warning",
    "duplicate_candidate",
    "watermark",
    "source_row",
    "legacy_crosswalk",
    "schema_migration",
    "run_consumer",
    "interval_partition",
    "interval_unit",
    "interval_reject",
)


class TargetConfig(StrictModel):
    """The SMART360 database the consumers go to; `table` names any of its tables."""

    url: str = Field(description="postgresql:// URL of the SMART360 database")
    schema_: str = Field("smart360", alias="schema", description="schema of the SMART360 tables")
    etl_schema: str = Field("smart360_etl", description="schema of this tool's run ledger and rejects")
    connect_retries: int = Field(3, ge=0, description="retries of a failed connection, with backoff")

    @field_validator("url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        return normalise_database_url(url, "target.url")

    def table(self, name: str) -> sql.Identifier:
        """The schema-qualified name of one of the target's tables."""
        if name in TARGET_TABLES:
            return sql.Identifier(self.schema_, name)
        if name in ETL_TABLES:
            return sql.Identifier(self.etl_schema, name)
        raise KeyError(f"{name} is not a table of the target (config.TARGET_TABLES, config.ETL_TABLES)")


class FieldSpec(StrictModel):
    """How one SMART360 field is produced: from which source column, by which transform."""

    from_: str | None = Field(None, alias="from", description="source column (matched loosely)")
    transform: str | None = Field(None, description="id, text, name.<part>, address.<part>, phone, email")
    default: str | None = Field(None, description="value used when the source is empty")

    @model_validator(mode="before")
    @classmethod
    def _column_alone(cls, data):
        """`consumer_id: cust_no` is short for `consumer_id: {from: cust_no}`."""
        if isinstance(data, str):
            return {"from": data}
        if not isinstance(data, (dict, FieldSpec)):
            raise ValueError(
                f"expected a source column name or {{from: <column>, transform: ..., default: ...}}, got {data!r}"
            )
        return data


class CheckSetting(StrictModel):
    """Overrides for one post-load check (see `smart360-etl validate --help` for the names)."""

    enabled: bool = Field(True, description="false switches the check off")
    severity: Literal["warn", "fail"] | None = Field(None, description="warn: reported; fail: exit code 2")
    threshold: float | None = Field(None, ge=0, description="failures allowed: a count (>= 1) or a rate (< 1)")
    fail_above: float | None = Field(
        None, ge=0, description="beyond this (a count or a rate) the check fails whatever its severity"
    )
    limit: int | None = Field(None, ge=1, description="check-specific limit, e.g. consumers per phone")


PAYMENT_STATUSES = ("PAID", "UNPAID", "PARTIALLY_PAID", "OVERDUE")


class AccountsConfig(StrictModel):
    """Accounts, meters, tariffs, consumption and payment status (the case study's other five columns)."""

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="source column per part: account_number, meter_number, tariff_plan, consumption_history, "
        "payment_status (defaults: the case-study names)",
    )
    number_format: str | None = Field(None, description="regex legacy account numbers must match, e.g. 'WU-\\d+'")
    generate_prefix: str | None = Field(
        None, description="numbers that do not match get a new one: prefix + sequence (the legacy number is kept)"
    )
    category: str = Field("RESIDENTIAL", description="account category for every account of this job")
    status: str = Field("ACTIVE", description="account status for every account of this job")
    service: str = Field("ELECTRICITY", description="utility service of the meters")
    unit: str = Field("kWh", description="meter unit; consumption is converted to it")
    create_unknown_tariffs: bool = Field(False, description="create tariff plans the reference data lacks")
    unknown_tariff: str | None = Field(None, description="plan code for unmapped tariff codes instead of a reject")
    unknown_payment_status: str | None = Field(None, description="status for unmapped codes instead of a reject")
    migrated_reading_date: date = Field(date(2026, 1, 1), description="date of a MIGRATED reading (a lone total)")
    consumption_ceiling: float = Field(100_000, gt=0, description="larger quantities are implausible: rejected")

    @model_validator(mode="after")
    def _valid(self) -> AccountsConfig:
        parts = ("account_number", "meter_number", "tariff_plan", "consumption_history", "payment_status")
        for key in self.columns:
            if key not in parts:
                raise ValueError(unknown_key("accounts.columns", key, parts))
        if self.number_format is not None:
            try:
                re.compile(self.number_format)
            except re.error as exc:
                raise ValueError(f"`number_format` is not a valid regular expression: {exc}") from None
        if self.unknown_payment_status is not None and self.unknown_payment_status not in PAYMENT_STATUSES:
            raise ValueError(f"`unknown_payment_status` must be one of {', '.join(PAYMENT_STATUSES)}")
        return self


class Crosswalks(StrictModel):
    """Legacy codes -> SMART360 codes, matched after trimming and case-folding."""

    tariff_plan: dict[str, str] = Field(default_factory=dict, description='e.g. {"Plan A": RES-STD}')
    payment_status: dict[str, str] = Field(default_factory=dict, description="e.g. {Paid: PAID, P: PAID}")

    @model_validator(mode="after")
    def _known_statuses(self) -> Crosswalks:
        wrong = sorted({v for v in self.payment_status.values() if v not in PAYMENT_STATUSES})
        if wrong:
            raise ValueError(f"payment statuses {wrong} are not SMART360's: use {', '.join(PAYMENT_STATUSES)}")
        return self


class ExportConfig(StrictModel):
    headers: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="per table: column -> header in the upload template"
    )


class ReportConfig(StrictModel):
    mask_personal_data: bool = Field(True, description="mask names, phones, e-mails in reports and samples")


class JobConfig(StrictModel):
    name: str = Field("consumers", description="job name: the run lock and ledger key")
    source: SourceConfig
    target: TargetConfig
    region: str = Field("US", min_length=2, description="country code: phones, postal codes, states")
    region_settings: dict[str, Any] | None = Field(None, description="override or add a region")
    report_dir: Path = Field(Path("reports"), description="where <run_id>.json is written")
    file_mode: str = Field(
        "0600",
        pattern=r"^0?[0-7]{3}$",
        description="permissions of the files the job writes (reports, logs, metrics, exports; they hold personal "
        "data); folders get the matching x bits (0600 -> 0700)",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="the source's column for a case-study column, e.g. {Name: full_name}: every field split out "
        "of it reads that column",
    )
    mapping: dict[str, FieldSpec | None] = Field(
        default_factory=dict, description="overrides per target field; null leaves the field empty"
    )
    name_order: Literal["given_first", "surname_first", "auto"] = Field(
        "given_first",
        description="how the source writes names without a comma; auto learns it from its 'Last, First' names",
    )
    reasons: dict[str, Disposition] = Field(default_factory=dict, description="reason -> reject | warn")
    checks: dict[str, CheckSetting] = Field(default_factory=dict, description="check name -> overrides")
    report: ReportConfig = Field(default_factory=ReportConfig, description="report options")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="log file and level")
    metrics_file: Path | None = Field(None, description="Prometheus textfile-collector file (.prom)")
    alerts: AlertsConfig | None = Field(None, description="where failures and failed checks are sent")
    schedule: ScheduleConfig | None = Field(None, description="when `smart360-etl schedule` runs the job")
    accounts: AccountsConfig | None = Field(None, description="also load accounts, meters, tariffs, readings")
    crosswalks: Crosswalks = Field(default_factory=Crosswalks, description="legacy code -> SMART360 code")
    export: ExportConfig = Field(default_factory=ExportConfig, description="CSV headers for `export`")
    intervals: IntervalsConfig | None = Field(None, description="meter interval reads (`smart360-etl intervals`)")

    @model_validator(mode="after")
    def _default_batch(self) -> JobConfig:
        # Each batch costs a fixed amount of work, and its working memory grows with its records (more with
        # accounts): these sizes keep peak memory under 300 MB at 1M records (README, Benchmark).
        if self.source.batch_size is None:
            self.source.batch_size = 15_000 if self.accounts else 25_000
        return self

    @model_validator(mode="after")
    def _crosswalks_need_accounts(self) -> JobConfig:
        if self.accounts is None and (self.crosswalks.tariff_plan or self.crosswalks.payment_status):
            raise ValueError(
                "`crosswalks` is read only when accounts are loaded: add `accounts: {}` to load accounts, "
                "meters, tariffs and readings, or remove `crosswalks`"
            )
        return self

    @model_validator(mode="after")
    def _known_reasons(self) -> JobConfig:
        for reason in self.reasons:
            if reason in HARD_REASONS or reason in ACCOUNT_REASONS:
                raise ValueError(f"reasons.{reason} always rejects the row and cannot be changed")
            if reason not in SOFT_REASONS:
                raise ValueError(unknown_key("reasons", reason, SOFT_REASONS))
        return self

    def umask(self) -> int:
        """The process umask that gives new files `file_mode` and new folders its x bits too."""
        mode = int(self.file_mode, 8)
        return 0o777 & ~(mode | ((mode & 0o444) >> 2))

    @property
    def schedule_section(self) -> ScheduleConfig:
        """`schedule:`, for the commands that need one (`schedule` says so before it gets here)."""
        if self.schedule is None:
            raise ValueError("the job file has no `schedule:` section")
        return self.schedule

    @property
    def accounts_section(self) -> AccountsConfig:
        """`accounts:`, for the code that runs only when the job has one."""
        if self.accounts is None:
            raise ValueError("the job file has no `accounts:` section")
        return self.accounts

    @property
    def intervals_section(self) -> IntervalsConfig:
        """`intervals:`, for the `intervals` commands."""
        if self.intervals is None:
            raise ValueError("the job file has no `intervals:` section (see README, 'Meter interval data')")
        return self.intervals

    def region_config(self) -> Region:
        return region_for(self.region, self.region_settings)

    def disposition(self, reason: str) -> Disposition:
        return "reject" if reason in HARD_REASONS or reason in ACCOUNT_REASONS else self.reasons.get(reason, "warn")


def unknown_key(section: str, key: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    where = f"key `{section}.{key}`" if section else f"top-level key `{key}`"
    return f"unknown {where}; {hint}known keys: {', '.join(known)}"

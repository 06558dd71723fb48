"""Typed job configuration (YAML). Secrets come from the environment or a `.env` beside the job file."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError
from .regions import Region, region_for

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Reasons whose field can be nulled and loaded with a warning; all others always reject the row,
# because SMART360 cannot hold a consumer without an id, a name or a first address line.
SOFT_REASONS = ("phone_invalid", "email_invalid", "postal_code_invalid", "state_invalid", "address_ambiguous")
HARD_REASONS = ("consumer_id_missing", "consumer_id_duplicate", "name_incomplete", "address_unparsed")
Disposition = Literal["reject", "warn"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SourceConfig(StrictModel):
    """Where consumer records come from: a PostgreSQL table or query, or a CSV file."""

    url: str | None = Field(None, description="postgresql:// URL of the legacy database")
    table: str | None = Field(None, description="table to read, optionally schema-qualified")
    query: str | None = Field(None, description="a SELECT to read instead of a table")
    csv: Path | None = Field(None, description="a CSV export to read instead of a database")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field separator")
    encoding: str = Field("utf-8", description="CSV file encoding, e.g. latin-1 or cp1252")
    batch_size: int = Field(50_000, gt=0, description="records per batch; bounds memory")

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if (self.url is None) == (self.csv is None):
            raise ValueError("give exactly one of `url` (a postgresql:// URL) or `csv` (a file path)")
        if self.url is not None and (self.table is None) == (self.query is None):
            raise ValueError("with `url`, give exactly one of `table` or `query`")
        return self


class TargetConfig(StrictModel):
    """The SMART360 database the consumers go to."""

    url: str = Field(description="postgresql:// URL of the SMART360 database")
    schema_: str = Field("smart360", alias="schema", description="schema of the SMART360 tables")
    etl_schema: str = Field("smart360_etl", description="schema of this tool's run ledger and rejects")


class FieldSpec(StrictModel):
    """How one SMART360 field is produced: from which source column, by which transform."""

    from_: str | None = Field(None, alias="from", description="source column (matched loosely)")
    transform: str | None = Field(None, description="id, text, name.<part>, address.<part>, phone, email")
    default: str | None = Field(None, description="value used when the source is empty")


class CheckSetting(StrictModel):
    """Overrides for one post-load check (see `smart360-etl validate --help` for the names)."""

    enabled: bool = Field(True, description="false switches the check off")
    severity: Literal["warn", "fail"] | None = Field(None, description="warn: reported; fail: exit code 2")
    threshold: float | None = Field(None, ge=0, description="failures allowed: a count (>= 1) or a rate (< 1)")
    limit: int | None = Field(None, ge=1, description="check-specific limit, e.g. consumers per phone")


class ReportConfig(StrictModel):
    mask_personal_data: bool = Field(True, description="mask names, phones, e-mails in reports and samples")


class JobConfig(StrictModel):
    name: str = Field("consumers", description="job name: the run lock and ledger key")
    source: SourceConfig
    target: TargetConfig
    region: str = Field("US", min_length=2, description="country code: phones, postal codes, states")
    region_settings: dict[str, Any] | None = Field(None, description="override or add a region")
    report_dir: Path = Field(Path("reports"), description="where <run_id>.json is written")
    mapping: dict[str, FieldSpec | None] = Field(
        default_factory=dict, description="overrides per target field; null leaves the field empty"
    )
    reasons: dict[str, Disposition] = Field(default_factory=dict, description="reason -> reject | warn")
    checks: dict[str, CheckSetting] = Field(default_factory=dict, description="check name -> overrides")
    report: ReportConfig = Field(default_factory=ReportConfig, description="report options")

    @model_validator(mode="after")
    def _known_reasons(self) -> JobConfig:
        for reason in self.reasons:
            if reason in HARD_REASONS:
                raise ValueError(f"reasons.{reason} always rejects the row and cannot be changed")
            if reason not in SOFT_REASONS:
                raise ValueError(_unknown("reasons", reason, SOFT_REASONS))
        return self

    def region_config(self) -> Region:
        return region_for(self.region, self.region_settings)

    def disposition(self, reason: str) -> Disposition:
        return "reject" if reason in HARD_REASONS else self.reasons.get(reason, "warn")


def _unknown(section: str, key: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    where = f"key `{section}.{key}`" if section else f"top-level key `{key}`"
    return f"unknown {where}; {hint}known keys: {', '.join(known)}"


def load_job(path: Path | str, environ: dict[str, str] | None = None) -> JobConfig:
    """Read, interpolate and validate a job file; relative paths are taken from its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"job file {path} not found; create one (see README, 'Job file')")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping with `source:` and `target:` sections")
    env = {**{k: v or "" for k, v in dotenv_values(path.parent / ".env").items()}, **(environ or os.environ)}
    raw = _interpolate(raw, env, path)
    raw.setdefault("name", path.stem)
    job = parse_job(raw, str(path))
    return _resolve_paths(job, path.parent)


def parse_job(raw: dict, origin: str = "job") -> JobConfig:
    try:
        return JobConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from None


def _explain(exc: ValidationError, origin: str) -> str:
    lines = [f"{origin} has {exc.error_count()} problem(s):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            section, _, name = key.rpartition(".")
            lines.append("  - " + _unknown(section, name, _fields_at(section)))
        elif err["type"] == "missing":
            lines.append(f"  - `{key}` is required")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, (dict, list)) else f" (got {redact_url(str(got))!r})"
            lines.append(f"  - `{key}`: {err['msg'].removeprefix('Value error, ')}{shown}")
    return "\n".join(lines)


def _fields_at(section: str) -> list[str]:
    model: type[BaseModel] = JobConfig
    for part in filter(None, section.split(".")):
        annotation = model.model_fields.get(part)
        if annotation is None or not isinstance(annotation.annotation, type):
            return [f.alias or n for n, f in FieldSpec.model_fields.items()]
        model = annotation.annotation
    return [f.alias or n for n, f in model.model_fields.items()]


def _interpolate(value: Any, env: dict[str, str], path: Path) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, env, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, path) for v in value]
    if isinstance(value, str):
        return ENV_REF.sub(lambda m: _env_value(m.group(1), env, path), value)
    return value


def _env_value(name: str, env: dict[str, str], path: Path) -> str:
    if name not in env:
        raise ConfigError(
            f"${{{name}}} is not set: looked in the environment and in {path.parent / '.env'}; "
            f"set it, e.g. `export {name}=postgresql://user@host:5432/db`"
        )
    return env[name]


def _resolve_paths(job: JobConfig, base: Path) -> JobConfig:
    updates: dict[str, Any] = {}
    if not job.report_dir.is_absolute():
        updates["report_dir"] = base / job.report_dir
    if job.source.csv is not None and not job.source.csv.is_absolute():
        updates["source"] = job.source.model_copy(update={"csv": base / job.source.csv})
    return job.model_copy(update=updates)


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for output and logs."""
    url = re.sub(r"(://[^:/@\s]*:)[^\s/?#]*@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)


_PARENS = r"\((?:[^()]|\([^()]*\))*\)"
_FAILING_ROW = re.compile(rf"Failing row contains {_PARENS}")
_KEY_VALUES = re.compile(rf"Key (\([^()]*\))={_PARENS}")


def redact(text: str) -> str:
    """Text safe for output, logs and the ledger: no URL passwords, and no row values that the database
    quotes in its errors ("Failing row contains (...)", "Key (id)=(...)"): those are personal data."""
    text = _FAILING_ROW.sub("Failing row contains (values hidden)", redact_url(text))
    return _KEY_VALUES.sub(r"Key \1=(values hidden)", text)

"""Reading a job file: YAML 1.2, `${VAR}` from the environment or a `.env` beside the file, validation with
one message per problem that names the key and the fix, paths taken from the file's folder."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, get_args

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import ConfigError
from ..urls import redact
from .intervals import IntervalsConfig
from .model import FieldSpec, JobConfig, unknown_key

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _JobLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true and false. `on`, `off`, `yes`, `no` stay words, so that the alerts'
    `on:` key is the key it looks like (YAML 1.1 would read it as `True`)."""


_JobLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_JobLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(text: str):
    return yaml.load(text, Loader=_JobLoader)  # noqa: S506 - a SafeLoader subclass


def load_job(path: Path | str, environ: dict[str, str] | None = None, unused: tuple[str, ...] = ()) -> JobConfig:
    """Read, interpolate and validate a job file; relative paths are taken from its folder.

    `unused`: top-level sections the command does not use (`validate` sends no alert): a variable of theirs
    that is not set does not stop it; the section is left out."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"job file {path} not found; create one (see README, 'Job file')")
    try:
        raw = read_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping with `source:` and `target:` sections")
    env = {**{k: v or "" for k, v in dotenv_values(path.parent / ".env").items()}, **(environ or os.environ)}
    for section in unused:
        if section in raw:
            try:
                _interpolate(raw[section], env, path, section)
            except ConfigError:
                del raw[section]
    raw = _interpolate(raw, env, path)
    raw.setdefault("name", path.stem)
    job = parse_job(raw, str(path))
    return _resolve_paths(job, path.parent)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, without the text around it (it may hold a password)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or "cannot be read"
    return f"{where}{problem}; fix the YAML there (a value holding `: `, `#` or `{{` goes in quotes)"


def parse_job(raw: dict, origin: str = "job") -> JobConfig:
    try:
        return JobConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from None


def _explain(exc: ValidationError, origin: str) -> str:
    problems = [_problem(err) for err in exc.errors()]
    if len(problems) == 1:
        return f"{origin}: {problems[0]}"
    return "\n".join([f"{origin} has {len(problems)} problems:", *(f"  - {p}" for p in problems)])


def _problem(err: ErrorDetails) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        section, _, name = key.rpartition(".")
        return unknown_key(section, name, _fields_at(section))
    if err["type"] == "missing":
        return f"`{key}` is required"
    message = err["msg"].removeprefix("Value error, ")
    if message.startswith(f"`{key}`"):  # the validator named the key itself (URLs)
        return message
    got = err.get("input")
    # A URL's value is never echoed: the message says what is wrong with it.
    shown = "" if isinstance(got, (dict, list)) or key.endswith("url") else f" (got {redact(str(got))!r})"
    return f"`{key}`: {message}{shown}"


def _fields_at(section: str) -> list[str]:
    model: type[BaseModel] = JobConfig
    for part in filter(None, section.split(".")):
        found = model.model_fields.get(part)
        nested = _model_in(found.annotation) if found else None
        if nested is None:  # a dict of entries, e.g. mapping.<field>
            return [f.alias or n for n, f in FieldSpec.model_fields.items()]
        model = nested
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside `Model`, `Model | None`."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _interpolate(value: Any, env: dict[str, str], path: Path, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, env, path, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, path, key) for v in value]
    if isinstance(value, str):
        return ENV_REF.sub(lambda m: _env_value(m.group(1), env, path, key), value)
    return value


def _env_value(name: str, env: dict[str, str], path: Path, key: str) -> str:
    if name not in env:
        raise ConfigError(
            f"${{{name}}} (in `{key}`) is not set: looked in the environment and in {path.parent / '.env'}; "
            f"set it, e.g. `export {name}={_example(key)}`"
        )
    return env[name]


def _example(key: str) -> str:
    """A value of the kind the key takes, for the message about an unset variable."""
    if key in ("source.url", "target.url"):
        return "postgresql://user@host:5432/db"
    if key.endswith("url"):
        return "https://hooks.example.com/services/..."
    if "password" in key or "token" in key:
        return "<the secret>"
    return "<value>"


def _resolve_paths(job: JobConfig, base: Path) -> JobConfig:
    updates: dict[str, Any] = {}
    if not job.report_dir.is_absolute():
        updates["report_dir"] = base / job.report_dir
    if job.source.csv is not None and not job.source.csv.is_absolute():
        updates["source"] = job.source.model_copy(update={"csv": base / job.source.csv})
    if job.source.file is not None and not job.source.file.is_absolute():
        updates["source"] = job.source.model_copy(update={"file": base / job.source.file})
    if job.source.kind == "sqlite" and not (job.source.url or "").startswith("sqlite:////"):
        relative = (job.source.url or "").removeprefix("sqlite:///")
        updates["source"] = job.source.model_copy(update={"url": f"sqlite:///{base / relative}"})
    if job.logging.file is not None and not job.logging.file.is_absolute():
        updates["logging"] = job.logging.model_copy(update={"file": base / job.logging.file})
    if job.metrics_file is not None and not job.metrics_file.is_absolute():
        updates["metrics_file"] = base / job.metrics_file
    if job.intervals is not None:
        updates["intervals"] = _resolve_interval_paths(job.intervals, base)
    email = job.alerts.email if job.alerts else None
    if job.alerts is not None and email is not None and email.cafile is not None and not email.cafile.is_absolute():
        email = email.model_copy(update={"cafile": base / email.cafile})
        updates["alerts"] = job.alerts.model_copy(update={"email": email})
    return job.model_copy(update=updates)


def _resolve_interval_paths(intervals: IntervalsConfig, base: Path) -> IntervalsConfig:
    source = intervals.source
    kind = source.kind
    if kind != "table" and not Path(getattr(source, kind)).is_absolute():
        source = source.model_copy(update={kind: str(base / getattr(source, kind))})
    stage = intervals.stage_dir if intervals.stage_dir.is_absolute() else base / intervals.stage_dir
    return intervals.model_copy(update={"source": source, "stage_dir": stage})

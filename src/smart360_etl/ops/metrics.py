"""The run's figures in the node_exporter textfile-collector format (written atomically)."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

LAST_SUCCESS = "smart360_etl_last_success_timestamp_seconds"


def write_metrics(path: Path, result, finished_at: float | None = None) -> None:
    """Replace `path` with this run's metrics; the last success survives failed runs."""
    finished_at = time.time() if finished_at is None else finished_at
    previous_success = _previous_success(path, result.job)
    registry = CollectorRegistry()
    job = result.job

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, ("job", *labels), registry=registry)

    rows = gauge("smart360_etl_rows", "source rows of the last run by outcome", ("outcome",))
    for outcome, count in result.counts.items():
        rows.labels(job, outcome).set(count)
    rejects = gauge("smart360_etl_rejects", "rejected rows of the last run by reason", ("reason",))
    for reason, count in result.rejects_by_reason.items():
        rejects.labels(job, reason).set(count)
    warnings = gauge("smart360_etl_warnings", "rows loaded with a warning in the last run, by reason", ("reason",))
    for reason, count in result.warnings_by_reason.items():
        warnings.labels(job, reason).set(count)
    checks = gauge(
        "smart360_etl_check_failed",
        "1 when the check failed (status warn or fail) in the last run",
        ("check", "severity"),
    )
    for check in result.checks:
        checks.labels(job, check["name"], check["severity"]).set(int(check["status"] != "pass"))
    gauge("smart360_etl_last_run_duration_seconds", "duration of the last run").labels(job).set(result.duration_s)
    gauge("smart360_etl_last_run_timestamp_seconds", "when the last run finished").labels(job).set(finished_at)
    gauge("smart360_etl_last_run_success", "1 when the last run succeeded").labels(job).set(int(result.status == "ok"))
    success = finished_at if result.status == "ok" else previous_success
    if success is not None:
        gauge(LAST_SUCCESS, "when the last successful run finished").labels(job).set(success)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


def _previous_success(path: Path, job: str) -> float | None:
    if not path.is_file():
        return None
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            if sample.name == LAST_SUCCESS and sample.labels.get("job") == job:
                return sample.value
    return None

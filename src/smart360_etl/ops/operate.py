"""One operated run: the pipeline, plus what a production job needs around it (log context, metrics,
alerts). `run` and `schedule` both go through here; the demo and the tests may call the pipeline alone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

import psycopg

from ..config import JobConfig
from ..result import RunResult
from ..review.resubmit import Resubmission
from ..run.context import OnProgress, new_run_id
from ..run.pipeline import run
from ..urls import redact
from .alerts import send_alerts
from .logs import run_context
from .metrics import write_metrics

log = logging.getLogger("smart360_etl")


def run_job(
    job: JobConfig,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
    on_progress: OnProgress | None = None,
    before_rollback: Callable[[psycopg.Connection], None] | None = None,
    lock_wait_s: float = 0,
    resubmit: Resubmission | None = None,
) -> RunResult:
    """Run once; metrics and alerts follow every outcome, a failure to start included. Raises as `run` does.
    `before_rollback`: see pipeline.run."""
    run_id = new_run_id()
    finished: list[RunResult] = []

    def after(result: RunResult) -> None:
        finished.append(result)
        _monitor(job, result)

    with run_context(run_id):
        log.info("run of job %s starts", job.name, extra={"stage": "start"})
        try:
            result = run(
                job,
                dry_run=dry_run,
                full_refresh=full_refresh,
                on_progress=on_progress,
                run_id=run_id,
                on_finish=after,
                before_rollback=before_rollback,
                lock_wait_s=lock_wait_s,
                resubmit=resubmit,
            )
        except BaseException as exc:
            if not finished:  # failed before the run had a result: the source could not even be opened
                _monitor(job, _failed_to_start(job, run_id, exc))
            raise
        log.info(
            "run finished: %s; %s",
            result.status,
            result.reconciliation,
            extra={"stage": "done", "counts": result.counts, "duration_s": result.duration_s},
        )
        return result


def _failed_to_start(job: JobConfig, run_id: str, exc: BaseException) -> RunResult:
    now = datetime.now(timezone.utc).isoformat()
    result = RunResult(run_id, job.name, "failed", False, now, "source not opened")
    result.error = redact(str(exc)) or type(exc).__name__
    return result


def _monitor(job: JobConfig, result: RunResult) -> None:
    if result.dry_run:
        return  # a rehearsal moves nothing: no metrics to publish, nobody to wake
    if result.status == "failed":
        # For the log file and the monitors: the command line prints the error itself, once.
        log.error("run failed: %s", result.error, extra={"stage": "done", "console": False})
    if job.metrics_file is not None:
        try:
            write_metrics(job.metrics_file, result)
        except OSError as exc:
            log.error("could not write metrics to %s: %s", job.metrics_file, exc)
    send_alerts(result, job.alerts)

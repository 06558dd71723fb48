"""Named exceptions. Each carries the fields a message needs and says what to do next."""

from __future__ import annotations

_job_file = ["<job.yaml>"]


def job_file() -> str:
    """The job file the command was given, for the commands a message tells the user to run."""
    return _job_file[0]


def set_job_file(path: str) -> None:
    _job_file[0] = path


class EtlError(Exception):
    """Base class: anything the CLI turns into a message and exit code 1."""


class ConfigError(EtlError):
    """The job file or its environment is wrong; nothing was read or written."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class SourceError(EtlError):
    """The source could not be read, or lacks a column the mapping needs."""


class TargetNotInitialised(EtlError):
    def __init__(self, schema: str, pending: list[int]) -> None:
        self.schema, self.pending = schema, pending
        super().__init__(
            f"the SMART360 target schema `{schema}` has {len(pending)} pending migration(s) "
            f"{pending}; run `smart360-etl init -c {job_file()}` first"
        )


class RunLocked(EtlError):
    def __init__(self, job: str) -> None:
        self.job = job
        super().__init__(
            f"another run of job `{job}` is in progress on this target (or was killed a moment ago: the server "
            "frees its lock within about a second); nothing was done - run again when it ends, or use "
            "`run --wait SECONDS`"
        )


class ReconciliationError(EtlError):
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        super().__init__(
            "counts do not reconcile (extracted != inserted + updated + unchanged + rejected): "
            f"{counts}; the run was rolled back"
        )


class StageFailed(EtlError):
    """A pipeline stage failed; wraps the cause once, naming the stage and the run."""

    def __init__(self, stage: str, run_id: str, cause: BaseException, dry_run: bool = False) -> None:
        self.stage, self.run_id, self.cause = stage, run_id, cause
        outcome = "dry run, nothing kept" if dry_run else "the target was rolled back, nothing was written"
        super().__init__(f"run {run_id} failed at stage `{stage}`: {cause} ({outcome}; fix the cause and run again)")


class Terminated(BaseException):
    """SIGTERM (cron, systemd, Airflow stopping the command): raised where the run is, so that it rolls back,
    records `failed`, writes its report and alerts, as Ctrl-C does. A BaseException, as KeyboardInterrupt
    is, so that no `except Exception` on the way swallows it."""


class RunBlocked(EtlError):
    """Several problems stop a run before it writes: all of them at once, each with its fix."""

    def __init__(self, problems: list[EtlError]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {' '.join(str(p).split())}" for p in problems)
        super().__init__(f"{len(problems)} problems stop the run before it writes anything:\n{lines}")


class TargetError(EtlError):
    """The SMART360 target database could not be reached or used."""

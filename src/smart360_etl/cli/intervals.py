"""`intervals`: meter interval reads into `interval_reading`, as one run or one step at a time (plan, unit,
finish) for an orchestrator."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .support import CONFIG_OPTION, JSON_OPTION, console, err_console, errors_to_exit_codes, job_from, print_json

RUN_OPTION = click.option("--run", "run_id", required=True, help="the run `intervals plan` printed")


def _section(config_path: Path):
    from ..errors import ConfigError

    job = job_from(config_path)
    if job.intervals is None:
        raise ConfigError("the job file has no `intervals:` section (README, 'Meter interval data')")
    return job


@click.group(invoke_without_command=True)
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), help="the job file")
@click.option("--executor", type=click.Choice(["local", "dask"]), help="override `intervals.executor.kind`")
@click.option("--scheduler", help="a Dask scheduler's address, e.g. tcp://scheduler:8786")
@click.option("--resume", "resume", help="run only the units this run did not finish")
@JSON_OPTION
@click.pass_context
def intervals(ctx: click.Context, config_path: Path | None, executor: str | None, scheduler: str | None,
              resume: str | None, as_json: bool) -> None:
    """Load meter interval reads: plan the units (a month and a bucket of meters), run them (retrying a
    failed one), reconcile, report. Exit 0 ok; 1 when a unit did not finish (resume it with --resume).

    \b
    Example:
      smart360-etl intervals -c job.yaml
      smart360-etl intervals -c job.yaml --executor dask --scheduler tcp://scheduler:8786
      smart360-etl intervals -c job.yaml --resume 20261202T101500Z-a1b2c3
    """
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        raise click.UsageError("give the job file: smart360-etl intervals -c job.yaml")
    from ..intervals.runner import run_intervals

    with errors_to_exit_codes():
        job = _section(config_path)

        def on_unit(key: str, error: str | None) -> None:
            err_console.print(f"unit {key}: " + ("done" if error is None else f"failed: {error}"))

        report = run_intervals(job, executor, scheduler, resume, on_unit=on_unit)
    print_report(report, as_json)
    sys.exit(0 if report["status"] == "succeeded" else 1)


def print_report(report: dict, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    counts = ", ".join(f"{k} {v:,}" for k, v in report["counts"].items())
    console.print(f"intervals run {report['run_id']}: {report['status']}; {counts}")
    reconciliation = report["reconciliation"]
    console.print(f"sum of values: source {reconciliation['source_sum']}, target {reconciliation['target_sum']} "
                  f"{reconciliation['unit']}")
    for rule, n in report["flags_by_rule"].items():
        console.print(f"  {rule}: {n:,}")
    if report.get("error"):
        console.print(report["error"])
    console.print(f"report: {report['report_path']}")


@intervals.command()
@CONFIG_OPTION
def plan(config_path: Path) -> None:
    """Read and split the source into units; print the run and its units as JSON (for an orchestrator).

    \b
    Example:
      smart360-etl intervals plan -c job.yaml
    """
    from ..intervals.runner import plan_run

    with errors_to_exit_codes():
        print_json(plan_run(_section(config_path)))


@intervals.command()
@CONFIG_OPTION
@RUN_OPTION
@click.argument("key")
def unit(config_path: Path, run_id: str, key: str) -> None:
    """Run one unit of a planned run (idempotent: running it again leaves the same rows).

    \b
    Example:
      smart360-etl intervals unit -c job.yaml --run 20261202T101500Z-a1b2c3 2026-03/b007
    """
    from ..intervals.unit import run_unit

    with errors_to_exit_codes():
        print_json(run_unit(_section(config_path), run_id, key))


@intervals.command()
@CONFIG_OPTION
@RUN_OPTION
@JSON_OPTION
def finish(config_path: Path, run_id: str, as_json: bool) -> None:
    """Sum a planned run's units, reconcile, write its report and mark it; exit 1 if a unit is not done.

    \b
    Example:
      smart360-etl intervals finish -c job.yaml --run 20261202T101500Z-a1b2c3
    """
    from ..intervals.runner import finish as finish_run

    with errors_to_exit_codes():
        report = finish_run(_section(config_path), run_id)
    print_report(report, as_json)
    sys.exit(0 if report["status"] == "succeeded" else 1)

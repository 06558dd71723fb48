"""Command line: parse flags, call one library function, turn named errors into messages and exit codes.

Exit codes: 0 ok; 1 error (nothing half-written); 2 loaded, but a check with severity `fail` failed.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

# polars allocates through jemalloc, one arena per thread by default; the mapping threads, polars' own and
# the loader's then each keep freed pages, for 10 s. One arena, returning freed pages after 1 s, lowers the
# peak memory at no cost in time (README, Benchmark).
# Set before polars loads, and only where the user has not configured jemalloc.
os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:1,dirty_decay_ms:1000")

import click
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from . import __version__
from .config import JobConfig, load_job
from .errors import EtlError, Terminated, set_job_file
from .ops import logs
from .urls import redact

# No text is ever read as markup: data and configuration may hold "[...]" (styles come as rich Text).
console = Console(stderr=False, markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False)
log = logging.getLogger("smart360_etl")

EXIT_CODES = """\b
Exit codes:
  0  ok
  1  error: nothing was written (the run is rolled back)
  2  loaded, but a check with severity `fail` failed: see the report
  130, 143  interrupted (Ctrl-C) or terminated (SIGTERM): rolled back, recorded `failed`, reported
"""

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="job file (YAML), e.g. job.yaml",
)


def _terminate(signum, frame) -> None:
    raise Terminated()


@contextmanager
def _errors_to_exit_codes():
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except EtlError as exc:
        err_console.print(Text.assemble(("error: ", "red"), redact(str(exc))), soft_wrap=True)
        sys.exit(1)
    except psycopg.Error as exc:
        err_console.print(Text.assemble(("database error: ", "red"), redact(str(exc)).strip()), soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted: the run was rolled back, nothing was written")
        sys.exit(130)
    except Terminated:
        err_console.print("terminated (SIGTERM): the run was rolled back, nothing was written")
        sys.exit(143)
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _progress(label: str):
    """A progress bar on a terminal; elsewhere the pipeline's log lines say how far it got."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda stage, done, total: bar.update(task, description=stage, completed=done, total=total)


def _job(config_path: Path, alerts: bool = False) -> JobConfig:
    """The job file; with `alerts`, its `alerts:` section must resolve too (only runs send alerts)."""
    set_job_file(str(config_path))
    job = load_job(config_path, unused=() if alerts else ("alerts",))
    logs.setup_job(job)
    return job


class _Commands(click.Group):
    """`-v` is read before or after the command's name (`smart360-etl run -c job.yaml -v`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        head = args[: args.index("--")] if "--" in args else args
        verbose = [a for a in head if re.fullmatch(r"-v+|--verbose", a)]
        rest = [a for i, a in enumerate(args) if not (a in verbose and i < len(head))]
        return super().parse_args(ctx, verbose + rest)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smart360-etl")
@click.option("-v", "--verbose", count=True, help="more log lines (-vv for debug)")
def main(verbose: int) -> None:
    """Move a utility's consumer records into SMART360.

    \b
    Example:
      smart360-etl demo                    # zero set-up: embedded PostgreSQL, 10,000 messy consumers
      smart360-etl init -c job.yaml        # create or migrate the SMART360 target schema
      smart360-etl run -c job.yaml         # one run; exit 0 ok, 1 error (target unchanged)
    """
    logs.setup_console(verbose)
    os.umask(0o077)  # the default `file_mode` (0600) until a job file says otherwise: outputs hold personal data


@main.command()
@click.option("--rows", default=10_000, show_default=True, type=click.IntRange(min=1), help="consumers to generate")
@click.option(
    "--report-dir",
    default=Path("reports"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="where the run's JSON report goes",
)
def demo(rows: int, report_dir: Path) -> None:
    """Run the whole job on a generated, messy "ABC Utility" source; no set-up needed.

    Starts an embedded PostgreSQL (removed again on exit, Ctrl-C and SIGTERM included), creates the
    source and a SMART360 target, runs the full migration and prints the summary.

    \b
    Example:
      smart360-etl demo --rows 50000
    """
    from .demo.job import run_demo
    from .report import print_summary

    with _errors_to_exit_codes(), _progress("migrating consumers") as on_progress:
        result = run_demo(rows, report_dir, on_progress)
    print_summary(result, console)
    sys.exit(2 if result.failed_checks else 0)


@main.command()
@CONFIG_OPTION
def init(config_path: Path) -> None:
    """Create or migrate the SMART360 target schema and this tool's tables; running it again changes nothing.

    \b
    Example:
      smart360-etl init -c job.yaml
    """
    from .db import target_connection
    from .load.schema import migrate

    with _errors_to_exit_codes():
        job = _job(config_path)
        with target_connection(job.target) as conn:
            applied = migrate(conn, job.target)
    where = f"schemas {job.target.schema_} and {job.target.etl_schema}"
    console.print(f"applied migrations {applied} to {where}" if applied else f"{where} already up to date")


@main.command(name="run")
@CONFIG_OPTION
@click.option("--dry-run", is_flag=True, help="do everything, then roll back: the target stays unchanged")
@click.option("--full-refresh", is_flag=True, help="incremental jobs: read the whole source, ignore the watermark")
@click.option(
    "--wait", "wait_s", default=0.0, show_default=True, type=click.FloatRange(min=0),
    help="seconds to wait for another run of the job to end before refusing",
)
def run_command(config_path: Path, dry_run: bool, full_refresh: bool, wait_s: float) -> None:
    """Run the job once: extract, map, load, reconcile, check, report.

    \b
    Example:
      smart360-etl run -c job.yaml --dry-run
    """
    from .ops.operate import run_job
    from .report import print_summary

    with _errors_to_exit_codes():
        job = _job(config_path, alerts=not dry_run)  # a dry run sends no alert
        with _progress("migrating consumers") as on_progress:
            result = run_job(
                job, dry_run=dry_run, full_refresh=full_refresh, on_progress=on_progress, lock_wait_s=wait_s
            )
    code = 2 if result.failed_checks else 0
    try:
        print_summary(result, console)
    except Exception as exc:  # the run is committed: printing cannot change how it ended
        err_console.print(f"run {result.run_id} ended {result.status}; its summary could not be printed: "
                          f"{redact(str(exc))}")
    sys.exit(code)


run_command.help = (run_command.help or "") + "\n" + EXIT_CODES


@main.command()
@CONFIG_OPTION
def validate(config_path: Path) -> None:
    """Run the checks on the SMART360 target alone: integrity, formats, shared contacts, duplicates.

    The checks that compare with a run's source (record counts, source keys, reject rate) run only
    inside `run`. Thresholds and severities come from the job file's `checks:` section.

    \b
    Example:
      smart360-etl validate -c job.yaml
    """
    from .report import print_checks
    from .run.queries import validate as validate_job

    with _errors_to_exit_codes():
        outcomes, report_path = validate_job(_job(config_path))
    print_checks([o.to_json() for o in outcomes], console)
    failed = [o.name for o in outcomes if o.status == "fail"]
    failures = Text.assemble(("failed: ", "red"), ", ".join(failed))
    console.print(failures if failed else "no check with severity `fail` failed")
    console.print(f"report: {report_path}")
    sys.exit(2 if failed else 0)


validate.help = (validate.help or "") + "\n" + EXIT_CODES


@main.command()
@CONFIG_OPTION
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="source rows to show")
def preview(config_path: Path, limit: int) -> None:
    """Show the first source rows mapped, and the rejects they would make; writes nothing.

    \b
    Example:
      smart360-etl preview -c job.yaml --limit 50
    """
    from .report.console import print_preview
    from .run.queries import preview as preview_rows

    with _errors_to_exit_codes():
        mapped = preview_rows(_job(config_path), limit)
    print_preview(mapped, console)


@main.command()
@CONFIG_OPTION
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="runs to list")
def history(config_path: Path, limit: int) -> None:
    """List past runs of the job: id, start, duration, status, counts.

    \b
    Example:
      smart360-etl history -c job.yaml --limit 5
    """
    from .report.console import print_history
    from .run.queries import history as past_runs

    with _errors_to_exit_codes():
        rows = past_runs(_job(config_path), limit)
    print_history(rows, console)


@main.command()
@CONFIG_OPTION
@click.option("--print-cron", is_flag=True, help="print a crontab line for the job's schedule and exit")
@click.option("--print-systemd", is_flag=True, help="print a systemd service and timer unit and exit")
def schedule(config_path: Path, print_cron: bool, print_systemd: bool) -> None:
    """Run the job on its `schedule:` (cron expression and time zone) in the foreground, until stopped.

    Never two runs at once; SIGTERM or Ctrl-C rolls back a run in progress and exits cleanly; with
    `catch_up: true` a run missed while the scheduler was down runs once at start. Each run logs,
    writes metrics and sends alerts as `run` does.

    \b
    Example:
      smart360-etl schedule -c job.yaml
      smart360-etl schedule -c job.yaml --print-systemd
    """
    from .ops import schedule as scheduling
    from .ops.operate import run_job
    from .run.queries import last_started

    with _errors_to_exit_codes():
        job = _job(config_path, alerts=not (print_cron or print_systemd))
        scheduling.require_schedule(job)
        if print_cron or print_systemd:
            text = scheduling.crontab_line(job, config_path) if print_cron else ""
            text += ("\n" if text else "") + (scheduling.systemd_units(job, config_path) if print_systemd else "")
            click.echo(text)
            return
        scheduling.serve(job, lambda: run_job(job), lambda: last_started(job))


@main.command(name="load-reference")
@CONFIG_OPTION
@click.argument("tariff_plans", type=click.Path(path_type=Path))
def load_reference(config_path: Path, tariff_plans: Path) -> None:
    """Load tariff plans (CSV with the header code,name,service,unit) into the SMART360 target.

    New plans are inserted, changed ones updated; running it again changes nothing.

    \b
    Example:
      smart360-etl load-reference -c job.yaml tariff_plans.csv
    """
    from .db import target_connection
    from .load.reference import load_tariff_plans, read_tariff_plans
    from .load.schema import require_migrated

    with _errors_to_exit_codes():
        job = _job(config_path)
        plans = read_tariff_plans(tariff_plans)
        with target_connection(job.target) as conn:
            require_migrated(conn, job.target)
            inserted, updated = load_tariff_plans(conn, job.target, plans)
    console.print(f"tariff plans: {plans.height} in the file, {inserted} inserted, {updated} updated")


@main.command()
@CONFIG_OPTION
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="folder for the CSV files")
@click.option(
    "--dry-run",
    is_flag=True,
    help="run the job as a dry run and write the tables as it would leave them; the target is not changed",
)
def export(config_path: Path, out_dir: Path, dry_run: bool) -> None:
    """Write one CSV per SMART360 table (tariff plans, consumers, accounts, meters, readings) from the target.

    For SMART360's own upload module; `export.headers` in the job file renames columns to its templates.
    With --dry-run the files come straight from the source, through a dry run: what is in the target
    already plus what the run would load (the target needs `init` and the tariff plans, nothing else).

    \b
    Examples:
      smart360-etl export -c job.yaml --out upload/
      smart360-etl export -c job.yaml --out upload/ --dry-run
    """
    from .db import target_connection
    from .load.schema import require_migrated
    from .ops.operate import run_job
    from .run.export import check_headers, export_tables, export_within

    written: dict[str, int] = {}
    with _errors_to_exit_codes():
        job = _job(config_path)
        check_headers(job)
        if dry_run:
            with _progress("dry run for the export") as on_progress:
                result = run_job(
                    job,
                    dry_run=True,
                    on_progress=on_progress,
                    before_rollback=lambda conn: written.update(export_within(conn, job, out_dir)),
                )
            console.print(f"dry run {result.run_id}: {result.reconciliation}", highlight=False)
        else:
            with target_connection(job.target) as conn:
                require_migrated(conn, job.target)
                written = export_tables(conn, job, out_dir)
    for table, rows in written.items():
        console.print(f"{out_dir / (table + '.csv')}: {rows} rows", soft_wrap=True, highlight=False)


@main.command()
@CONFIG_OPTION
def doctor(config_path: Path) -> None:
    """Check configuration, connectivity, permissions, pending migrations and schema drift; writes nothing.

    Prints one line per check with the fix for each problem. Exit 0 when nothing failed, 1 otherwise.

    \b
    Example:
      smart360-etl doctor -c job.yaml
    """
    from .ops.doctor import Finding, diagnose
    from .report.console import print_findings

    try:
        findings = diagnose(_job(config_path))
    except EtlError as exc:  # the job file itself: nothing else can be checked
        findings = [Finding("configuration", "fail", redact(str(exc)), "fix the job file")]
    print_findings(findings, console)
    sys.exit(1 if any(finding.status == "fail" for finding in findings) else 0)


if __name__ == "__main__":
    main()

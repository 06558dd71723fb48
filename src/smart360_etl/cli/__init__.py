"""Command line: parse flags, call one library function, turn named errors into messages and exit codes.

Exit codes: 0 ok; 1 error (nothing half-written); 2 loaded, but a check with severity `fail` failed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

# polars allocates through jemalloc, one arena per thread by default; the mapping threads, polars' own and
# the loader's then each keep freed pages, for 10 s. One arena, returning freed pages after 1 s, lowers the
# peak memory at no cost in time (README, Benchmark).
# Set before polars loads, and only where the user has not configured jemalloc.
os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:1,dirty_decay_ms:1000")

import click
from rich.text import Text

from .. import __version__
from ..errors import EtlError
from ..ops import logs
from ..report.console import print_kept_demo
from ..urls import redact
from . import intervals, review
from .support import (
    CONFIG_OPTION,
    EXIT_CODES,
    JSON_OPTION,
    Commands,
    console,
    err_console,
    errors_to_exit_codes,
    job_from,
    print_json,
    progress,
)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smart360-etl")
@click.option("-v", "--verbose", count=True, help="more log lines (-vv for debug)")
@click.option("-q", "--quiet", is_flag=True, help="only warnings and errors in the log")
def main(verbose: int, quiet: bool) -> None:
    """Move a utility's consumer records into SMART360.

    \b
    Example:
      smart360-etl demo                    # zero set-up: embedded PostgreSQL, 10,000 messy consumers
      smart360-etl init -c job.yaml        # create or migrate the SMART360 target schema
      smart360-etl run -c job.yaml         # one run; exit 0 ok, 1 error (target unchanged)
    """
    logs.setup_console(-1 if quiet else verbose)
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
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path, file_okay=False),
              help="keep the database, job file and reports in this folder; again: another mock load")
@click.option("--stop", "stop_dir", type=click.Path(path_type=Path, file_okay=False),
              help="stop the database a `--keep` demo left running in this folder")
@click.option("--source", "kind", type=click.Choice(["postgres", "mysql", "sqlite", "csv", "xlsx", "parquet"]),
              default="postgres", show_default=True,
              help="the source's kind: mysql needs a server (SMART360_DEMO_MYSQL_URL, default root@127.0.0.1:3306)")
@click.option("--intervals", "with_intervals", is_flag=True,
              help="then generate 15-minute reads for the migrated meters and run the intervals job on them")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366),
              help="days of reads, with --intervals")
def demo(rows: int, report_dir: Path, keep_dir: Path | None, stop_dir: Path | None, kind: str, with_intervals: bool,
         days: int) -> None:
    """Run the whole job on a generated, messy "ABC Utility" source; no set-up needed.

    Starts an embedded PostgreSQL (removed again on exit, Ctrl-C and SIGTERM included), creates the
    source and a SMART360 target, runs the full migration and prints the summary. With --keep DIR the
    server keeps running and everything stays in DIR, to explore with the other commands.

    \b
    Example:
      smart360-etl demo --rows 50000
      smart360-etl demo --intervals --days 30   # and meter interval reads with VEE, gaps, DST
      smart360-etl demo --keep abc && smart360-etl demo --keep abc && smart360-etl compare -c abc/job.yaml
    """
    from ..report import print_summary

    if stop_dir is not None:
        from ..demo.kept import stop_kept_demo

        console.print(f"stopped the demo's database in {stop_dir}" if stop_kept_demo(stop_dir)
                      else f"no demo database is running in {stop_dir}")
        return
    if keep_dir is not None:
        from ..demo.kept import run_kept_demo

        with errors_to_exit_codes(), progress("migrating consumers") as on_progress:
            kept = run_kept_demo(rows, keep_dir, on_progress)
        print_summary(kept.result, console)
        print_kept_demo(kept, console)
        sys.exit(2 if kept.result.failed_checks else 0)
    from ..demo.job import run_demo

    interval_reports: list[dict] = []
    with errors_to_exit_codes(), progress("migrating consumers") as on_progress:
        result = run_demo(rows, report_dir, on_progress, kind, days if with_intervals else None, interval_reports)
    print_summary(result, console)
    for report in interval_reports:
        intervals.print_report(report, as_json=False)
    sys.exit(2 if result.failed_checks else 0 if all(r["status"] == "succeeded" for r in interval_reports) else 1)


@main.command()
@CONFIG_OPTION
def init(config_path: Path) -> None:
    """Create or migrate the SMART360 target schema and this tool's tables; running it again changes nothing.

    \b
    Example:
      smart360-etl init -c job.yaml
    """
    from ..db import target_connection
    from ..load.schema import migrate

    with errors_to_exit_codes():
        job = job_from(config_path)
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
@click.option(
    "--resubmit",
    type=click.Path(path_type=Path),
    help="load a fixed rejects file (from `rejects`) instead of the source, as a run of its own",
)
def run_command(config_path: Path, dry_run: bool, full_refresh: bool, wait_s: float, resubmit: Path | None) -> None:
    """Run the job once: extract, map, load, reconcile, check, report.

    \b
    Example:
      smart360-etl run -c job.yaml --dry-run
      smart360-etl run -c job.yaml --resubmit rejects-fixed.xlsx
    """
    from ..ops.operate import run_job
    from ..report import print_summary
    from ..review.resubmit import read_resubmission

    with errors_to_exit_codes():
        job = job_from(config_path, alerts=not dry_run)  # a dry run sends no alert
        fixed = read_resubmission(resubmit) if resubmit is not None else None
        with progress("migrating consumers") as on_progress:
            result = run_job(
                job, dry_run=dry_run, full_refresh=full_refresh, on_progress=on_progress, lock_wait_s=wait_s,
                resubmit=fixed,
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
@JSON_OPTION
def validate(config_path: Path, as_json: bool) -> None:
    """Run the checks on the SMART360 target alone: integrity, formats, shared contacts, duplicates.

    The checks that compare with a run's source (record counts, source keys, reject rate) run only
    inside `run`. Thresholds and severities come from the job file's `checks:` section.

    \b
    Example:
      smart360-etl validate -c job.yaml
    """
    from ..report import print_checks
    from ..run.queries import validate as validate_job

    with errors_to_exit_codes():
        outcomes, report_path = validate_job(job_from(config_path))
    failed = [o.name for o in outcomes if o.status == "fail"]
    if as_json:
        print_json({"checks": [o.to_json() for o in outcomes], "failed": failed, "report": str(report_path)})
        sys.exit(2 if failed else 0)
    print_checks([o.to_json() for o in outcomes], console)
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
    from ..report.console import print_preview
    from ..run.queries import preview as preview_rows

    with errors_to_exit_codes():
        mapped = preview_rows(job_from(config_path), limit)
    print_preview(mapped, console)


@main.command()
@CONFIG_OPTION
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="runs to list")
@JSON_OPTION
def history(config_path: Path, limit: int, as_json: bool) -> None:
    """List past runs of the job, newest first: id, start, duration in seconds, status, counts; the error of
    each failed run.

    \b
    Example:
      smart360-etl history -c job.yaml --limit 5
    """
    from ..report.console import print_history
    from ..run.queries import history as past_runs

    with errors_to_exit_codes():
        rows = past_runs(job_from(config_path), limit)
    if as_json:
        print_json({"runs": rows})
        return
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
    from ..ops import schedule as scheduling
    from ..ops.operate import run_job
    from ..run.queries import last_started

    with errors_to_exit_codes():
        job = job_from(config_path, alerts=not (print_cron or print_systemd))
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
    from ..db import target_connection
    from ..load.reference import load_tariff_plans, read_tariff_plans
    from ..load.schema import require_migrated

    with errors_to_exit_codes():
        job = job_from(config_path)
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
    from ..db import target_connection
    from ..load.schema import require_migrated
    from ..ops.operate import run_job
    from ..run.export import check_headers, export_tables, export_within

    written: dict[str, int] = {}
    with errors_to_exit_codes():
        job = job_from(config_path)
        check_headers(job)
        if dry_run:
            with progress("dry run for the export") as on_progress:
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
@JSON_OPTION
def doctor(config_path: Path, as_json: bool) -> None:
    """Check configuration, connectivity, permissions, pending migrations and schema drift; writes nothing.

    Prints one line per check with the fix for each problem. Exit 0 when nothing failed, 1 otherwise.

    \b
    Example:
      smart360-etl doctor -c job.yaml
    """
    from ..ops.doctor import Finding, diagnose
    from ..report.console import print_findings

    try:
        findings = diagnose(job_from(config_path))
    except EtlError as exc:  # the job file itself: nothing else can be checked
        findings = [Finding("configuration", "fail", redact(str(exc)), "fix the job file")]
    if as_json:
        print_json({"findings": [asdict(f) for f in findings],
                    "problems": sum(f.status == "fail" for f in findings)})
    else:
        print_findings(findings, console)
    sys.exit(1 if any(finding.status == "fail" for finding in findings) else 0)


main.add_command(review.rejects)
main.add_command(intervals.intervals)
main.add_command(review.compare)

if __name__ == "__main__":
    main()

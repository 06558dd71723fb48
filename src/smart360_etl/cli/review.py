"""The review loop's commands: `rejects` (export, summary) and `compare` (two runs side by side)."""

from __future__ import annotations

from pathlib import Path

import click

from .support import CONFIG_OPTION, JSON_OPTION, console, errors_to_exit_codes, job_from, print_json


@click.command()
@CONFIG_OPTION
@click.option("--run", "run_id", help="the run (default: the job's last run that loaded)")
@click.option("--reason", "reasons", multiple=True, help="only these reasons (repeat the option for more)")
@click.option("--out", type=click.Path(path_type=Path), help="file to write: .csv, or .xlsx for a spreadsheet")
@click.option("--warnings", is_flag=True, help="export the warnings (field, source value, why) instead")
@click.option("--unresolved", is_flag=True, help="only rejects that no resubmission has loaded since")
@click.option("--summary", is_flag=True, help="counts per reason and what to do, instead of a file")
@JSON_OPTION
def rejects(config_path: Path, run_id: str | None, reasons: tuple[str, ...], out: Path | None, warnings: bool,
            unresolved: bool, summary: bool, as_json: bool) -> None:
    """Export a run's rejected records for the people who fix them, in the source's own columns and order,
    with their reasons and how to fix each; fixed, the file goes back with `run --resubmit`.

    \b
    Example:
      smart360-etl rejects -c job.yaml --out rejects.xlsx
      smart360-etl rejects -c job.yaml --reason phone_invalid --warnings --out phones.csv
      smart360-etl rejects -c job.yaml --summary --json
    """
    from ..db import target_connection
    from ..report.console import print_reject_summary
    from ..review.rejects import export_rejects, export_warnings, reject_summary

    with errors_to_exit_codes():
        job = job_from(config_path)
        with target_connection(job.target) as conn:
            if summary:
                found = reject_summary(conn, job, run_id)
            elif out is None:
                raise click.UsageError("give --out FILE (.csv or .xlsx), or --summary")
            elif warnings:
                done = export_warnings(conn, job, out, run_id, reasons)
            else:
                done = export_rejects(conn, job, out, run_id, reasons, unresolved)
    if summary:
        if as_json:
            print_json(found)
        else:
            print_reject_summary(found, console)
        return
    kind = "warnings" if warnings else "rejected records"
    console.print(f"{done.rows} {kind} of run {done.run_id} written to {done.path}", soft_wrap=True)
    if not warnings and done.rows:
        console.print(f"fix them in the file, then: smart360-etl run -c {config_path} --resubmit {done.path}",
                      soft_wrap=True)


@click.command()
@CONFIG_OPTION
@click.argument("runs", nargs=-1)
@JSON_OPTION
def compare(config_path: Path, runs: tuple[str, ...], as_json: bool) -> None:
    """Compare two runs of the job (default: its last two that loaded): counts, rejects and warnings by
    reason, checks whose outcome changed, consumers new, gone and changed, business totals. Writes
    compare-<A>-<B>.json and .html to the report folder.

    \b
    Example:
      smart360-etl compare -c job.yaml
      smart360-etl compare -c job.yaml 20261201T020000Z-1a2b3c 20261202T020000Z-4d5e6f --json
    """
    from ..db import target_connection
    from ..report.console import print_comparison
    from ..report.files import write_comparison
    from ..review.compare import compare_runs

    if len(runs) not in (0, 2):
        raise click.UsageError("give two run ids (the earlier first), or none for the job's last two runs")
    with errors_to_exit_codes():
        job = job_from(config_path)
        with target_connection(job.target) as conn:
            found = compare_runs(conn, job, *runs) if runs else compare_runs(conn, job)
        path = write_comparison(found, job.report_dir)
    if as_json:
        print_json(found)
        return
    print_comparison(found, console)
    console.print(f"written: {path} and {path.with_suffix('.html')}", soft_wrap=True)

"""Everything printed to the console: the run's summary and checks, and the tables of `preview`, `history`
and `doctor`. Nothing here writes a file (files.py does)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..mapping.fields import CONSUMER_FIELDS
from ..result import COUNTS, SCOPES, CheckRow, RunResult

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}


def print_checks(checks: list[CheckRow], console: Console) -> None:
    if not checks:
        return
    table = Table(title="checks (severity, thresholds and full samples in the report)")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    counts = [f"{check['failing']} of {check['total']}" for check in checks]
    # "0 of 30…" hides the total: the counts keep their width, the check names and samples give way.
    table.add_column("failing", justify="right", no_wrap=True, min_width=max(map(len, counts)))
    table.add_column("sample", overflow="ellipsis", no_wrap=True, max_width=24)
    for check, count in zip(checks, counts):
        style = STATUS_STYLE[check["status"]]
        table.add_row(
            check["name"],
            Text(check["status"], style=style),
            count,
            ", ".join(check["sample"][:2]),
        )
    console.print(table)


def _print_entities(result: RunResult, console: Console) -> None:
    """Jobs with accounts: counts per table, codes without a crosswalk entry, totals that differ."""
    if not result.entities:
        return
    table = Table(title="accounts, meters, readings")
    table.add_column("table")
    outcomes = COUNTS
    for name in outcomes:
        table.add_column(name, justify="right")
    for entity, counts in result.entities.items():
        table.add_row(entity, *(str(counts[n]) for n in outcomes))
    console.print(table)
    for part, codes in result.unmapped_codes.items():
        if codes:
            shown = ", ".join(f"{code!r} ({n})" for code, n in codes.items())
            console.print(Text.assemble(("no crosswalk entry", "yellow"), f" for {part}: {shown}"), soft_wrap=True)
    differing = [t for t in result.business_totals if not t["match"]]
    console.print(
        f"business totals: {len(result.business_totals) - len(differing)} of {len(result.business_totals)} match "
        "between source and target" + (f"; differ: {differing[:3]}" if differing else ""),
        soft_wrap=True,
        highlight=False,
    )


def print_summary(result: RunResult, console: Console) -> None:
    counts = Table(title=f"run {result.run_id} ({result.status})", show_header=True)
    for name in COUNTS:
        counts.add_column(name, justify="right")
    counts.add_row(*(str(result.counts[n]) for n in COUNTS))
    console.print(counts)
    for title, reasons in (
        ("rejects by reason (a row may have several)", result.rejects_by_reason),
        ("warnings by reason (row loaded; an invalid field is nulled)", result.warnings_by_reason),
    ):
        if reasons:
            table = Table(title=title)
            table.add_column("reason")
            table.add_column("rows", justify="right")
            for reason, count in reasons.items():
                table.add_row(reason, str(count))
            console.print(table)
    _print_entities(result, console)
    print_checks(result.checks, console)
    if result.check_scope == "written":
        console.print(f"row checks, profile and duplicates: {SCOPES['written']} (`validate` checks the whole target)")
    for drift in result.drift:
        console.print(Text.assemble(("schema drift", "yellow"), f": {drift['message']}"), soft_wrap=True)
    if result.unloaded_columns:
        shown = ", ".join(result.unloaded_columns)
        console.print(Text.assemble(("not loaded", "yellow"), f": source columns {shown} (no field reads them)"),
                      soft_wrap=True)
    if result.incremental:
        sync = result.incremental
        moved = "watermark moved" if sync["watermark_saved"] else "watermark kept"
        console.print(
            f"incremental ({sync['window']}); {moved}; {sync['deleted']['count']} consumer(s) gone from the "
            f"source (deletes: {sync['deletes']})",
            soft_wrap=True,
            highlight=False,
        )
    balanced = all(c["status"] == "pass" for c in result.checks if c["name"] == "record_count_reconciles")
    console.print(("reconciled: " if balanced else "NOT reconciled: ") + result.reconciliation, soft_wrap=True)
    if result.failed_checks:
        console.print(
            Text.assemble(("a check with severity `fail` failed", "red"), ": the data is loaded; see the checks "
                          "above and the report, fix the source or the mapping, and run again (exit code 2)")
        )
    if result.dry_run:
        console.print("dry run: everything was rolled back, the target is unchanged")
    if result.report_path is None:
        console.print("report: not written (see the log)")
        return
    html = Path(result.report_path).with_suffix(".html")
    console.print(f"report: {result.report_path} and {html}", soft_wrap=True, highlight=False)


# With `accounts:`, what each record's account would hold.
ACCOUNT_PARTS = ("account_number", "legacy_account_number", "tariff_code", "payment_status", "meters", "readings")


def print_preview(mapped: pl.DataFrame, console: Console) -> None:
    """One block per source row: its outcome, then the SMART360 fields it maps to (fits any width)."""
    if mapped.is_empty():
        console.print("the source has no rows")
        return
    for row in mapped.iter_rows(named=True):
        console.print(Text.assemble((f"row {row['source_row_number']}", "bold"), "  ", _outcome(row)))
        filled = {f: row[f] for f in CONSUMER_FIELDS + ACCOUNT_PARTS if row.get(f) is not None}
        for name, value in filled.items():
            console.print(f"  {name:<16} {_shown(value)}", highlight=False, markup=False)
        if row["reject_reasons"] or row["warn_reasons"]:
            console.print(f"  {'source':<16} {row['source_row']}", highlight=False, markup=False)
    rejected = mapped.filter(pl.col("reject_reasons").is_not_null()).height
    console.print(f"{rejected} of {mapped.height} rows would be rejected; nothing was written")


def _shown(value) -> str:
    """Meters and readings readable: "MTR-1, MTR-2"; "2024-01-01 100 kWh (ACTUAL); ..."."""
    if isinstance(value, list):
        return "; ".join(
            f"{v['period']} {v['quantity']:g} {v['unit']} ({v['reading_type']})" if isinstance(v, dict) else str(v)
            for v in value
        )
    return str(value)


def _outcome(row: dict) -> Text:
    if row["reject_reasons"]:
        return Text(f"reject: {row['reject_reasons']}", style="red")
    if row["warn_reasons"]:
        return Text(f"load, warn: {row['warn_reasons']}", style="yellow")
    return Text("load", style="green")


def print_history(rows: list[dict], console: Console) -> None:
    """Runs newest first with their full ids, which start with when they started (never cut, also on an
    80-column terminal); the errors of failed runs below the table. `--json` has every field."""
    if not rows:
        console.print("no runs yet")
        return
    table = Table(title="runs, newest first")
    table.add_column("run_id", no_wrap=True, min_width=max(len(row["run_id"]) for row in rows))
    table.add_column("status", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("extracted = inserted + updated + unchanged + rejected", overflow="fold")
    for row in rows:
        duration = "" if row["duration_s"] is None else f"{row['duration_s']:.1f}"
        status = Text(row["status"], style="red" if row["status"] in ("failed", "abandoned") else "")
        counts = "" if row["extracted"] is None else "{} = {} + {} + {} + {}".format(*(row[k] for k in COUNTS))
        table.add_row(row["run_id"], status, duration, counts)
    console.print(table)
    for row in rows:
        if row["error"]:
            console.print(Text.assemble((f"{row['run_id']} {row['status']}: ", "red"), row["error"]), soft_wrap=True)


FINDING_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def print_findings(findings, console: Console) -> None:
    """`doctor`'s findings: a line each (never wrapped, so that it can be searched and mailed), the fix
    after every problem."""
    for finding in findings:
        line = Text.assemble((f"{finding.status:<4}", FINDING_STYLE[finding.status]), f" {finding.name}: ",
                             " ".join(finding.detail.split()))
        if finding.fix and finding.status != "ok":
            line.append(f" -> fix: {finding.fix}")
        console.print(line, soft_wrap=True)
    failed = sum(finding.status == "fail" for finding in findings)
    console.print(Text(f"{failed} problem(s) to fix", style="red") if failed else Text("ready to run", style="green"))


def print_reject_summary(summary: dict, console: Console) -> None:
    """`rejects --summary`: per reason, the rejects (and how many a resubmission loaded), the warnings, the fix."""
    table = Table(title=f"run {summary['run_id']}: {summary['rejected_rows']} rejected records, "
                        f"{summary['resolved_rows']} resolved since")
    for name in ("reason", "rejected", "resolved", "warned"):
        table.add_column(name, justify="left" if name == "reason" else "right", no_wrap=True)
    table.add_column("how to fix", overflow="fold")
    for reason, entry in summary["reasons"].items():
        table.add_row(reason, str(entry["rejected"]), str(entry["resolved"]), str(entry["warned"]),
                      entry["how_to_fix"])
    console.print(table)


def print_comparison(comparison: dict, console: Console) -> None:
    """`compare`: counts, reasons and consumers with deltas, and the checks whose outcome changed."""
    a, b = comparison["a"]["run_id"], comparison["b"]["run_id"]
    table = Table(title=f"A {a} -> B {b}")
    for name in ("", "A", "B", "B - A"):
        table.add_column(name, justify="left" if not name else "right", no_wrap=True)
    sections = [("count", comparison["counts"]), ("reject", comparison["rejects"]),
                ("warning", comparison["warnings"])]
    for kind, rows in sections:
        for row in rows:
            table.add_row(f"{kind} {row['name']}" if kind != "count" else row["name"], str(row["a"]), str(row["b"]),
                          f"{row['delta']:+d}")
    console.print(table)
    consumers = comparison["consumers"]
    if consumers is None:
        console.print("consumers: not recorded for one of the runs")
    else:
        console.print(f"consumers: {consumers['new']} new, {consumers['gone']} gone, {consumers['changed']} changed, "
                      f"{consumers['unchanged']} unchanged", soft_wrap=True)
    for check in comparison["checks_changed"]:
        console.print(Text.assemble("check ", check["name"], ": ", (check["a"], STATUS_STYLE.get(check["a"], "")),
                                    " -> ", (check["b"], STATUS_STYLE.get(check["b"], ""))), soft_wrap=True)


def print_kept_demo(kept, console: Console) -> None:
    """After `demo --keep DIR`: what is where, and the commands to explore it."""
    job = kept.job_file
    lines = [
        f"mock load {kept.mock_load} kept in {kept.folder}: job file {job}, reports in {job.parent / 'reports'}",
        f"  smart360-etl history -c {job}",
        f"  smart360-etl rejects -c {job} --out {kept.folder / 'rejects.xlsx'}",
        f"  smart360-etl demo --keep {kept.folder}        # another mock load, then:",
        f"  smart360-etl compare -c {job}",
        f"  psql \"{kept.target_url}\"",
        f"the database keeps running; stop it with: smart360-etl demo --stop {kept.folder}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)

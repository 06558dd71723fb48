"""The run's JSON report and its console summary."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..result import RunResult
from .masking import mask_row, mask_warning

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}


def print_checks(checks: list[dict], console: Console) -> None:
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


def _masked(body: dict, mask: bool) -> dict:
    if mask:
        body["duplicates"] = [mask_row(pair) for pair in body["duplicates"]]
        body["samples"] = {name: [mask_row(row) for row in rows] for name, rows in body["samples"].items()}
        if body.get("reason_samples"):
            warnings = body["reason_samples"].get("warnings", {})
            masked = {reason: [mask_warning(row) for row in rows] for reason, rows in warnings.items()}
            body["reason_samples"]["warnings"] = masked
    body["personal_data_masked"] = mask
    return body


def write_validation_report(validation_id: str, job: str, found: dict, report_dir: Path, mask: bool = True) -> Path:
    """`<report_dir>/<validation_id>.json`: what `validate` found (checks, profile, samples, duplicates)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    body = _masked({"validation_id": validation_id, "job": job, **found}, mask)
    path = report_dir / f"{validation_id}.json"
    path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def write_reports(result: RunResult, report_dir: Path, mask: bool = True) -> Path:
    """`<run_id>.json` and `<run_id>.html`, and the refreshed `index.html`; returns the JSON's path."""
    from .html import write_index, write_run_page

    report_dir.mkdir(parents=True, exist_ok=True)
    body = _masked({k: v for k, v in result.to_json().items() if k != "report_path"}, mask)
    path = report_dir / f"{result.run_id}.json"
    path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    write_run_page(body, report_dir)
    write_index(report_dir)
    return path


def _print_entities(result: RunResult, console: Console) -> None:
    """Jobs with accounts: counts per table, codes without a crosswalk entry, totals that differ."""
    if not result.entities:
        return
    table = Table(title="accounts, meters, readings")
    table.add_column("table")
    outcomes = ("extracted", "inserted", "updated", "unchanged", "rejected")
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
    for name in ("extracted", "inserted", "updated", "unchanged", "rejected"):
        counts.add_column(name, justify="right")
    counts.add_row(*(str(result.counts[n]) for n in ("extracted", "inserted", "updated", "unchanged", "rejected")))
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

"""Console tables for `preview`, `history` and `doctor`."""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .mapping.fields import CONSUMER_FIELDS

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
    if not rows:
        console.print("no runs yet")
        return
    table = Table(title="runs, newest first")
    for name in (
        "run_id",
        "started_at",
        "duration",
        "status",
        "extracted",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
    ):
        table.add_column(
            name, justify="right" if name in ("extracted", "inserted", "updated", "unchanged", "rejected") else "left"
        )
    for row in rows:
        table.add_row(
            row["run_id"],
            f"{row['started_at']:%Y-%m-%d %H:%M:%S}",
            str(row["duration"] or ""),
            row["status"],
            *(
                str(row[k] if row[k] is not None else "")
                for k in ("extracted", "inserted", "updated", "unchanged", "rejected")
            ),
        )
    console.print(table)


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

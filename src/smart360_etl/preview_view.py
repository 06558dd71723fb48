"""Console tables for `preview` and `history`."""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.table import Table

from .mapping.fields import CONSUMER_FIELDS

SHOWN = [f for f in CONSUMER_FIELDS if f not in ("title", "suffix", "phone_extension")]


def print_preview(mapped: pl.DataFrame, console: Console) -> None:
    if mapped.is_empty():
        console.print("the source has no rows")
        return
    table = Table(title=f"first {mapped.height} source rows, mapped", show_lines=False)
    table.add_column("row", justify="right")
    for name in SHOWN:
        table.add_column(name, overflow="fold")
    table.add_column("outcome")
    for row in mapped.iter_rows(named=True):
        table.add_row(str(row["source_row_number"]), *(row[f] or "" for f in SHOWN), _outcome(row))
    console.print(table)
    rejected = mapped.filter(pl.col("reject_reasons").is_not_null()).height
    console.print(f"{rejected} of {mapped.height} rows would be rejected; nothing was written")


def _outcome(row: dict) -> str:
    if row["reject_reasons"]:
        return f"[red]reject: {row['reject_reasons']}[/red]"
    if row["warn_reasons"]:
        return f"[yellow]warn: {row['warn_reasons']}[/yellow]"
    return "[green]ok[/green]"


def print_history(rows: list[dict], console: Console) -> None:
    if not rows:
        console.print("no runs yet")
        return
    table = Table(title="runs, newest first")
    for name in ("run_id", "started_at", "duration", "status", "extracted", "inserted", "updated", "unchanged", "rejected"):
        table.add_column(name, justify="right" if name in ("extracted", "inserted", "updated", "unchanged", "rejected") else "left")
    for row in rows:
        table.add_row(row["run_id"], f"{row['started_at']:%Y-%m-%d %H:%M:%S}", str(row["duration"] or ""),
                      row["status"], *(str(row[k] if row[k] is not None else "") for k in
                                       ("extracted", "inserted", "updated", "unchanged", "rejected")))
    console.print(table)

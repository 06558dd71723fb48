"""`run --resubmit FILE`: a rejects file, fixed by the people who know the records, loaded back through the
job's own mapping and target as a run of its own.

The file is what `rejects` wrote: the source's columns, then the run and row each record was rejected in.
The new run maps and loads its rows like any other (a row still wrong is rejected again, with its reasons);
inside its transaction it marks, in the earlier run's rejects, the rows it loaded (`resolved_by`), and the
ledger links the two runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig
from ..errors import SourceError
from ..result import ResubmissionSummary
from .rejects import REJECT_COLUMNS
from .workbook import read_table


@dataclass(frozen=True)
class Resubmission:
    path: Path
    fixes_run: str  # the run whose rejects the file holds
    rows: pl.DataFrame  # the source's columns, as text, in the file's order
    numbers: list[int]  # each row's number in `fixes_run`


def read_resubmission(path: Path) -> Resubmission:
    """The fixed rejects file, checked: it must name one run and give every row its number there."""
    frame = read_table(path)
    missing = [c for c in ("rejected_in_run", "source_row_number") if c not in frame.columns]
    if missing:
        raise SourceError(f"{path.name} has no {' or '.join(missing)} column: resubmit the file that "
                          "`smart360-etl rejects` wrote, with its columns kept (fix the values only)")
    runs = frame["rejected_in_run"].drop_nulls().unique().to_list()
    if len(runs) != 1 or frame["rejected_in_run"].null_count():
        raise SourceError(f"{path.name}: every row must keep its rejected_in_run, and all the same run "
                          f"(found {sorted(runs)[:3]}); resubmit one run's rejects at a time")
    numbers = frame["source_row_number"].str.strip_chars().cast(pl.Int64, strict=False)
    bad = frame.with_row_index("line", offset=2).filter(numbers.is_null())["line"].to_list()
    if bad:
        raise SourceError(f"{path.name}: source_row_number is empty or not a number on line(s) {bad[:10]}; "
                          "keep each row's number from the export (a new record goes into the source, not here)")
    repeated = numbers.filter(numbers.is_duplicated()).unique().sort().to_list()
    if repeated:
        raise SourceError(f"{path.name}: source_row_number {repeated[:10]} appears more than once; keep one row each")
    source = frame.drop([c for c in REJECT_COLUMNS if c in frame.columns])
    return Resubmission(path, str(runs[0]), source, numbers.to_list())


class FileSource:
    """The resubmitted rows as a source: one snapshot (the file is read once, before the run)."""

    def __init__(self, resubmission: Resubmission) -> None:
        self.resubmission = resubmission
        self.frame = resubmission.rows

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def schema(self) -> dict[str, str]:
        return dict.fromkeys(self.frame.columns, "text")

    def describe(self) -> str:
        return f"{self.resubmission.path} (rejects of run {self.resubmission.fixes_run}, resubmitted)"

    def batches(self, batch_size: int, columns: list[str] | None = None, whole: bool = False) -> Iterator[pl.DataFrame]:
        frame = self.frame.select(columns) if columns else self.frame
        for start in range(0, frame.height, batch_size):
            yield frame.slice(start, batch_size)

    def max_value(self, column: str) -> str | None:
        raise SourceError("a resubmission is never incremental")

    def restrict(self, column: str, after: str, overlap_s: float, until: str | None = None) -> None:
        raise SourceError("a resubmission is never incremental")


def mark_resolved(
    conn: psycopg.Connection, job: JobConfig, run_id: str, resubmission: Resubmission
) -> ResubmissionSummary:
    """In the earlier run's rejects, the rows this run loaded get `resolved_by` = this run, and so do the
    rows they stand for in the runs before it (a second round resubmits the first round's rejects). This
    run's own rejects keep the row number they had in the earlier run (`resubmitted_row`), for the next
    round. All in the run's transaction."""
    rejects = job.target.table("reject")
    conn.execute(
        sql.SQL("UPDATE {} r SET resubmitted_row = (%s::bigint[])[r.source_row_number] WHERE run_id = %s").format(
            rejects), [resubmission.numbers, run_id]
    )
    rejected_again = {row[0] for row in conn.execute(
        sql.SQL("SELECT source_row_number FROM {} WHERE run_id = %s").format(rejects), [run_id]
    )}
    loaded = [n for i, n in enumerate(resubmission.numbers, start=1) if i not in rejected_again]
    resolved = _resolve(conn, job, run_id, resubmission.fixes_run, loaded)
    return ResubmissionSummary(fixes_run=resubmission.fixes_run, file=str(resubmission.path),
                               rows=len(resubmission.numbers), resolved=resolved, rejected_again=len(rejected_again))


def _resolve(conn: psycopg.Connection, job: JobConfig, by: str, run_id: str, rows: list[int]) -> int:
    """Mark `rows` of `run_id`'s rejects resolved by run `by`, then the rows they came from, run by run."""
    rejects, runs = job.target.table("reject"), job.target.table("run")
    resolved = conn.execute(
        sql.SQL("UPDATE {} SET resolved_by = %s WHERE run_id = %s AND source_row_number = ANY(%s)").format(rejects),
        [by, run_id, rows],
    ).rowcount
    seen = {run_id}
    while rows:
        earlier = conn.execute(sql.SQL("SELECT resubmits FROM {} WHERE run_id = %s").format(runs), [run_id]).fetchone()
        if earlier is None or earlier[0] is None or earlier[0] in seen:
            break
        rows = [row[0] for row in conn.execute(
            sql.SQL("SELECT resubmitted_row FROM {} WHERE run_id = %s AND source_row_number = ANY(%s) "
                    "AND resubmitted_row IS NOT NULL").format(rejects), [run_id, rows]
        )]
        run_id = earlier[0]
        seen.add(run_id)
        conn.execute(
            sql.SQL("UPDATE {} SET resolved_by = %s WHERE run_id = %s AND source_row_number = ANY(%s)").format(
                rejects), [by, run_id, rows],
        )
    return resolved

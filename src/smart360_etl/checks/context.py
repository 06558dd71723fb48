"""What a check can look at: the target connection and region, and, inside a run, that run's facts."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cached_property

import polars as pl
import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..regions import Region

SOURCE_KEYS = sql.Identifier("smart360_etl_source_keys")


@dataclass
class RunFacts:
    """A run's own numbers, for the checks that compare the target with the source."""

    run_id: str
    counts: dict[str, int]
    rejects_by_reason: dict[str, int]
    source_ids: pl.Series  # every non-null consumer id the source had, after mapping


@dataclass
class CheckContext:
    conn: psycopg.Connection
    target: TargetConfig
    region: Region
    check_run_id: str  # the run's id, or a validation's own id: where duplicate candidates are filed
    run: RunFacts | None = None
    predicates: dict[str, sql.Composable] = field(default_factory=dict)
    duplicate_pairs: list[dict] = field(default_factory=list)  # the first few, for the report

    @property
    def consumer(self) -> sql.Identifier:
        return sql.Identifier(self.target.schema_, "consumer")

    @property
    def etl(self) -> sql.Identifier:
        return sql.Identifier(self.target.etl_schema)

    @cached_property
    def predicate_counts(self) -> dict[str, int]:
        """Every row check's failing count, and `total`, from one scan of the consumer table."""
        names = list(self.predicates)
        counts = sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE {})").format(self.predicates[n]) for n in names)
        row = self.conn.execute(sql.SQL("SELECT count(*), {} FROM {}").format(counts, self.consumer)).fetchone()
        return {"total": row[0], **dict(zip(names, row[1:]))}

    def sample(self, condition: sql.Composable, size: int = 5) -> list[str]:
        query = sql.SQL("SELECT consumer_id FROM {} WHERE {} ORDER BY consumer_id LIMIT {}").format(
            self.consumer, condition, sql.Literal(size))
        return ["(no id)" if row[0] is None else str(row[0]) for row in self.conn.execute(query)]

    def rows(self, ids: list[str], columns: tuple[str, ...]) -> list[dict]:
        """The consumer rows with these ids (a sample's worth), as dicts."""
        query = sql.SQL("SELECT {} FROM {} WHERE consumer_id = ANY(%s) ORDER BY consumer_id").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), self.consumer)
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            return cursor.execute(query, [ids]).fetchall()

    @cached_property
    def source_keys(self) -> sql.Identifier:
        """The run's source ids as a temporary table (COPY), for set-based comparison."""
        self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text) ON COMMIT DROP").format(SOURCE_KEYS))
        with self.conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(SOURCE_KEYS)) as copy:
            for piece in self.run.source_ids.to_frame().iter_slices(100_000):
                buffer = io.BytesIO()
                piece.write_csv(buffer, include_header=False)
                copy.write(buffer.getbuffer())
        self.conn.execute(sql.SQL("ANALYZE {}").format(SOURCE_KEYS))  # the planner must know it is big
        return SOURCE_KEYS

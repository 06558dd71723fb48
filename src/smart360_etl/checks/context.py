"""What a check can look at: the target connection and region, and, inside a run, that run's facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..db import one_row
from ..load.consumers import WRITTEN
from ..load.source_keys import SOURCE_KEYS
from ..regions import Region
from ..result import IncrementalSummary

SHARED_CONTACTS = ("phone_number", "email_address")  # a value many consumers share is worth a look
# The consumer rows a scoped run wrote, copied out of the consumer table once for every check to scan.
RUN_ROWS = sql.Identifier("smart360_etl_run_rows")


@dataclass
class RunFacts:
    """A run's own numbers, for the checks that compare the target with the source."""

    run_id: str
    counts: dict[str, int]
    rejects_by_reason: dict[str, int]
    source_key_count: int  # non-null consumer ids the source had (they are in load.keys.SOURCE_KEYS)
    incremental: IncrementalSummary | None = None  # an incremental run's window verification and deleted rows


@dataclass
class CheckContext:
    conn: psycopg.Connection
    target: TargetConfig
    region: Region
    check_run_id: str  # the run's id, or a validation's own id: where duplicate candidates are filed
    run: RunFacts | None = None
    # True: the row checks, profile and duplicate finder look at the consumers the run wrote (a later run
    # into a target that held rows); False: at the whole target (`validate`, a first load, --full-refresh).
    scoped: bool = False
    predicates: dict[str, sql.Composable] = field(default_factory=dict)
    duplicate_pairs: list[dict] = field(default_factory=list)  # the first few, for the report

    @property
    def facts(self) -> RunFacts:
        """The run's facts, for the checks that need a run (Check.needs_run: `validate` skips them)."""
        if self.run is None:
            raise ValueError("this check compares with a run's source: it runs only inside a run")
        return self.run

    @property
    def consumer(self) -> sql.Identifier:
        return self.target.table("consumer")

    @property
    def rows_table(self) -> sql.Identifier:
        """What the row checks scan: the run's written consumers (`scoped`) or the consumer table."""
        return RUN_ROWS if self.scoped else self.consumer

    @property
    def scope(self) -> str:
        """The scope of the checks that look at consumer rows (a key of result.SCOPES)."""
        return "written" if self.scoped else "target"

    def prepare_scope(self) -> None:
        """Fresh statistics for what the checks scan (a just-loaded table looks empty to the planner, which
        then picks slow plans); in a scoped run, the written rows copied out first."""
        if self.scoped:
            # Estimates from the whole table would have the server compile (JIT) queries of a few rows,
            # which costs seconds; the whole-table pass keeps the server's setting.
            self.conn.execute("SET LOCAL jit = off")
            self.conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {rows} ON COMMIT DROP AS SELECT c.* FROM {consumer} c "
                    "WHERE c.consumer_id IN (SELECT consumer_id FROM {written})"
                ).format(rows=RUN_ROWS, consumer=self.consumer, written=WRITTEN)
            )
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.rows_table))

    @property
    def etl(self) -> sql.Identifier:
        return sql.Identifier(self.target.etl_schema)

    @cached_property
    def predicate_counts(self) -> dict[str, int]:
        """Every row check's failing count, and `total`, from one scan of the consumer table; a condition
        that two names share (a check and a profile figure) is counted once."""
        texts = {name: predicate.as_string(self.conn) for name, predicate in self.predicates.items()}
        distinct = list(dict.fromkeys(texts.values()))
        counts = sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE {})").format(sql.SQL(t)) for t in distinct)
        row = one_row(self.conn.execute(sql.SQL("SELECT count(*), {} FROM {}").format(counts, self.rows_table)))
        by_text = dict(zip(distinct, row[1:]))
        return {"total": row[0], **{name: by_text[text] for name, text in texts.items()}}

    @cached_property
    def shared_contacts(self) -> dict[str, tuple[int, list[tuple[int, str]]]]:
        """Per contact column: how many distinct values, and (consumers, first id) of each value two or more
        share. Both columns in one statement: PostgreSQL groups them side by side (a parallel append),
        in the time of one. (An ORDER BY inside array_agg would sort every group: three times slower.)
        Scoped, only the values the written rows have are grouped, but counted over the whole table."""
        per_column = sql.SQL(
            "SELECT {name}, count(*), array_agg(n) FILTER (WHERE n > 1), array_agg(first_id) FILTER (WHERE n > 1) "
            "FROM (SELECT count(*) AS n, min(consumer_id) AS first_id FROM {t} WHERE {c} IS NOT NULL {scoped} "
            "GROUP BY {c}) g"
        )
        query = sql.SQL(" UNION ALL ").join(
            per_column.format(
                name=sql.Literal(c),
                t=self.consumer,
                c=sql.Identifier(c),
                scoped=sql.SQL("AND {c} IN (SELECT {c} FROM {rows})").format(c=sql.Identifier(c), rows=RUN_ROWS)
                if self.scoped
                else sql.SQL(""),
            )
            for c in SHARED_CONTACTS
        )
        return {
            column: (distinct, list(zip(sizes or [], firsts or [])))
            for column, distinct, sizes, firsts in self.conn.execute(query)
        }

    def sample(self, condition: sql.Composable, size: int = 5) -> list[str]:
        query = sql.SQL("SELECT consumer_id FROM {} WHERE {} ORDER BY consumer_id LIMIT {}").format(
            self.rows_table, condition, sql.Literal(size)
        )
        return ["(no id)" if row[0] is None else str(row[0]) for row in self.conn.execute(query)]

    def rows(self, ids: list[str], columns: tuple[str, ...]) -> list[dict]:
        """The consumer rows with these ids (a sample's worth), as dicts."""
        query = sql.SQL("SELECT {} FROM {} WHERE consumer_id = ANY(%s) ORDER BY consumer_id").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), self.consumer
        )
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            return cursor.execute(query, [ids]).fetchall()

    @property
    def source_keys(self) -> sql.Identifier:
        """The run's source ids, COPYed into a temporary table before the load (load/source_keys.py)."""
        return SOURCE_KEYS

"""Load accounts, meters and consumption readings after each batch's consumers, in dependency order.

Each table: COPY into a staging table, then one UPDATE of the rows whose values differ and one INSERT of
the new ones. A rejected record contributes nothing to any table (its entities count as rejected); a
clean one lands in every table within the run's transaction. The lineage table (`legacy_crosswalk`)
records which SMART360 row each legacy consumer id, account number and meter number became.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from ..config import JobConfig
from ..db import one_row
from .copying import copy_frames
from .deferred import SetAside, set_aside
from .merging import Table, merge

ENTITIES = ("account", "meter", "consumption_reading")
LOADED = sql.Identifier("smart360_etl_loaded_consumers")  # the consumer ids of the records this run loaded


@dataclass
class EntityCounts:
    extracted: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0

    def to_json(self) -> dict[str, int]:
        unchanged = self.extracted - self.rejected - self.inserted - self.updated
        return {
            "extracted": self.extracted,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": unchanged,
            "rejected": self.rejected,
        }


ACCOUNT = Table(
    "account",
    ("account_number",),
    ("consumer_id", "status", "category", "tariff_code", "payment_status", "legacy_account_number"),
    # A number still to be generated is null: such accounts are told apart by their legacy number.
    same_row=("account_number", "legacy_account_number"),
)
METER = Table("meter", ("meter_number",), ("service", "unit", "account_number"))
READING = Table(
    "consumption_reading",
    ("meter_number", "period"),
    ("quantity", "unit", "reading_type"),
    {"period": "date", "quantity": "numeric"},
    stamped=False,
)
ENTITY_TABLES = (ACCOUNT, METER, READING)  # what a run writes besides consumers; drift guards their columns
LINEAGE = Table(
    "legacy_crosswalk",
    ("job", "entity", "legacy_key"),
    ("smart360_key", "run_id", "row_hash"),
    stamped=False,
    bookkeeping=("run_id",),  # the run that last changed the row: a re-run leaves it alone
)


class EntityLoader:
    """One run's accounts, meters and readings, inside the caller's transaction."""

    def __init__(self, conn: psycopg.Connection, job: JobConfig, run_id: str) -> None:
        self.conn, self.job, self.run_id, self.settings = conn, job, run_id, job.accounts_section
        self.counts = {entity: EntityCounts() for entity in ENTITIES}
        # Per crosswalk: the source's spellings of each missing code, by the code case-folded and trimmed.
        self.unmapped: dict[str, dict[str, Counter]] = {"tariff_plan": {}, "payment_status": {}}
        self.source_totals: Counter = Counter()  # (measure, key) -> value, over the records that loaded
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text) ON COMMIT DROP").format(LOADED))
        for table in (ACCOUNT, METER, READING, LINEAGE):
            columns = ", ".join(f"{c} {table.types.get(c, 'text')}" for c in table.columns)
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (" + columns + ", consumer_id_ text) ON COMMIT DROP").format(
                    _stage(table)
                )
            )
            # Stages join each other by consumer; the load runs with hash joins off (see ConsumerLoader).
            conn.execute(sql.SQL("CREATE INDEX ON {} (consumer_id_)").format(_stage(table)))
        self.into_empty = self._claim_if_empty()
        # Empty tables, locked for the run: their foreign keys and plain indexes are rebuilt in `finish`.
        self.set_aside = SetAside()
        if self.into_empty:
            self.set_aside = set_aside(conn, [self.job.target.table(n) for n in ENTITIES]) + self._lineage_key_aside()

    def _claim_if_empty(self) -> bool:
        """Empty account tables (a first or mock load) take clean records straight by COPY.

        Every clean record's account, meters and readings are then new and unique (duplicate ids and
        contested account and meter numbers are rejected before the load), so staging and merging would
        be wasted work. Numbers still to be generated, and plans still to be created, need the staged way.
        The tables are locked against other writers for the run so that this stays true.
        """
        if self.settings.generate_prefix is not None or self.settings.create_unknown_tariffs:
            return False
        tables = [self.job.target.table(name) for name in ENTITIES]
        lineage = sql.SQL("(SELECT FROM {} WHERE job = {})").format(
            self.job.target.table("legacy_crosswalk"), sql.Literal(self.job.name)
        )
        empty = sql.SQL("SELECT {}").format(
            sql.SQL(" AND ").join(
                [sql.SQL("NOT EXISTS (SELECT FROM {})").format(t) for t in tables]
                + [sql.SQL("NOT EXISTS {}").format(lineage)]
            )
        )
        if not one_row(self.conn.execute(empty))[0]:
            return False
        for table in tables:
            self.conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))
        return one_row(self.conn.execute(empty))[0]

    def _lineage_key_aside(self) -> SetAside:
        """A lineage table no job has written to yet gets its key after the load, like the account tables.
        (Other jobs' runs wait for this one to commit before they write lineage.)"""
        lineage = self.job.target.table("legacy_crosswalk")
        written = sql.SQL("SELECT EXISTS (SELECT FROM {})").format(lineage)
        if one_row(self.conn.execute(written))[0]:
            return SetAside()  # the usual case after the first load: no lock, other jobs carry on
        self.conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(lineage))
        if one_row(self.conn.execute(written))[0]:  # another job wrote while we waited for the lock
            return SetAside()
        return set_aside(self.conn, [lineage], keys=True)

    def load(self, mapped: pl.DataFrame) -> None:
        """The account parts of one mapped batch (its consumers are already loaded)."""
        for part, codes in self.unmapped.items():
            # Matching folds case and spaces, so "Plan C" and "plan c " are one missing entry.
            for code, rows in mapped[f"unmapped_{part}"].drop_nulls().value_counts().iter_rows():
                codes.setdefault(code.strip().casefold(), Counter())[code.strip()] += rows
        rejected = mapped.filter(pl.col("reject_reasons").is_not_null())
        clean = mapped.filter(pl.col("reject_reasons").is_null())
        accounts, meters, readings = self._frames(clean)
        if not self.into_empty:  # a bulk load's totals read the whole tables (business_totals)
            copy_frames(self.conn, LOADED, [clean.select("consumer_id")], ["consumer_id"])
        for entity, frame in zip(ENTITIES, self._frames(rejected)):
            self.counts[entity].rejected += frame.height
            self.counts[entity].extracted += frame.height
        self._total(accounts, readings)
        if self.into_empty:
            self._copy_into_empty(clean, accounts, meters, readings)
            return
        self._copy_to_stage(ACCOUNT, accounts)
        self._number_new_accounts()
        self._create_unknown_tariffs()
        self._merge(ACCOUNT, "account")
        self._copy_to_stage(METER, meters)
        self._merge(METER, "meter", source=self._meters_with_accounts())
        self._copy_to_stage(READING, readings.select(*READING.columns, pl.col("consumer_id").alias("consumer_id_")))
        self._merge(READING, "consumption_reading")
        self._record_lineage(clean, meters)

    def _copy_into_empty(
        self, clean: pl.DataFrame, accounts: pl.DataFrame, meters: pl.DataFrame, readings: pl.DataFrame
    ) -> None:
        """Into empty tables: every row is new, and the lineage is known without asking the database."""
        meters = meters.drop("account_number").join(
            accounts.select("consumer_id_", "account_number"), on="consumer_id_", how="left"
        )
        frames = [(ACCOUNT, accounts), (METER, meters), (READING, readings)]
        for table, frame in frames:
            unique = frame.unique(subset=table.identity, keep="last", maintain_order=True).select(table.columns)
            into = self.job.target.table(table.name)
            copied = copy_frames(self.conn, into, [unique], table.columns) if unique.height else 0
            self.counts[table.name].extracted += copied
            self.counts[table.name].inserted += copied
        hashes = clean.select(pl.col("consumer_id").alias("consumer_id_"), "row_hash")
        lineage = pl.concat(
            [
                clean.select(
                    pl.lit("consumer").alias("entity"),
                    pl.col("consumer_id").alias("legacy_key"),
                    pl.col("consumer_id").alias("smart360_key"),
                    "row_hash",
                ),
                clean.filter(pl.col("legacy_account_number").is_not_null()).select(
                    pl.lit("account").alias("entity"),
                    pl.col("legacy_account_number").alias("legacy_key"),
                    pl.col("account_number").alias("smart360_key"),
                    "row_hash",
                ),
                meters.unique(subset=["meter_number"], keep="last")
                .join(hashes, on="consumer_id_")
                .select(
                    pl.lit("meter").alias("entity"),
                    pl.col("meter_number").alias("legacy_key"),
                    pl.col("meter_number").alias("smart360_key"),
                    "row_hash",
                ),
            ]
        ).with_columns(pl.lit(self.job.name).alias("job"), pl.lit(self.run_id).alias("run_id"))
        lineage_table = self.job.target.table("legacy_crosswalk")
        copy_frames(self.conn, lineage_table, [lineage.select(LINEAGE.columns)], LINEAGE.columns)

    def _frames(self, records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        settings = self.settings
        has_account = pl.col("account_number").is_not_null() | pl.col("legacy_account_number").is_not_null()
        accounts = records.filter(has_account).select(
            "account_number",
            pl.col("consumer_id"),
            pl.lit(settings.status).alias("status"),
            pl.lit(settings.category).alias("category"),
            "tariff_code",
            "payment_status",
            "legacy_account_number",
            pl.col("consumer_id").alias("consumer_id_"),
        )
        meters = (
            records.select(pl.col("meters").alias("meter_number"), pl.col("consumer_id").alias("consumer_id_"))
            .explode("meter_number")
            .drop_nulls("meter_number")
            .select(
                "meter_number",
                pl.lit(settings.service).alias("service"),
                pl.lit(settings.unit).alias("unit"),
                pl.lit(None, dtype=pl.String).alias("account_number"),
                "consumer_id_",
            )
        )
        # A record's readings belong to its (first) meter: the source has one history per record.
        readings = (
            records.select(
                pl.col("meters").list.first().alias("meter_number"), "readings", "tariff_code", "consumer_id"
            )
            .explode("readings")
            .drop_nulls("readings")
            .unnest("readings")
        )
        return accounts, meters, readings

    def _total(self, accounts: pl.DataFrame, readings: pl.DataFrame) -> None:
        """Business totals on the source side, to compare with the target's after the load."""
        for status, n in accounts["payment_status"].fill_null("(none)").value_counts().iter_rows():
            self.source_totals[("consumers_by_payment_status", status)] += n
        for code, n in accounts["tariff_code"].fill_null("(none)").value_counts().iter_rows():
            self.source_totals[("consumers_by_tariff_plan", code)] += n
        by_tariff = readings.group_by(pl.col("tariff_code").fill_null("(none)")).agg(pl.col("quantity").sum())
        for code, quantity in by_tariff.iter_rows():
            self.source_totals[("consumption_by_tariff_plan", code)] += quantity

    def _copy_to_stage(self, table: Table, frame: pl.DataFrame) -> None:
        self.conn.execute(sql.SQL("TRUNCATE {}").format(_stage(table)))
        unique = frame.unique(subset=table.identity, keep="last", maintain_order=True)
        if unique.height:
            copy_frames(self.conn, _stage(table), [unique], unique.columns)
        # True row counts for the planner, or it may drive the joins from the growing target table.
        self.conn.execute(sql.SQL("ANALYZE {}").format(_stage(table)))
        if table.name in self.counts:
            self.counts[table.name].extracted += unique.height

    def _number_new_accounts(self) -> None:
        """Legacy numbers that do not fit the job's format: the number given on an earlier run, or a new one."""
        if self.settings.generate_prefix is None:
            return
        stage, lineage = _stage(ACCOUNT), self.job.target.table("legacy_crosswalk")
        self.conn.execute(
            sql.SQL(
                "UPDATE {stage} s SET account_number = x.smart360_key FROM {lineage} x WHERE s.account_number "
                "IS NULL AND x.job = %s AND x.entity = 'account' AND x.legacy_key = s.legacy_account_number"
            ).format(stage=stage, lineage=lineage),
            [self.job.name],
        )
        self.conn.execute(
            sql.SQL("UPDATE {} SET account_number = %s || nextval({}) WHERE account_number IS NULL").format(
                stage, sql.Literal(f"{self.job.target.schema_}.account_number_seq")
            ),
            [self.settings.generate_prefix],
        )

    def _create_unknown_tariffs(self) -> None:
        if not self.settings.create_unknown_tariffs:
            return
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {plans} (code, name, service, unit) SELECT DISTINCT tariff_code, tariff_code, %s, %s "
                "FROM {stage} s WHERE tariff_code IS NOT NULL AND NOT EXISTS "
                "(SELECT FROM {plans} p WHERE p.code = s.tariff_code)"
            ).format(plans=self.job.target.table("tariff_plan"), stage=_stage(ACCOUNT)),
            [self.settings.service, self.settings.unit],
        )

    def _meters_with_accounts(self) -> sql.Composable:
        return sql.SQL(
            "SELECT m.meter_number, m.service, m.unit, a.account_number FROM {meters} m "
            "LEFT JOIN {accounts} a ON a.consumer_id_ = m.consumer_id_"
        ).format(meters=_stage(METER), accounts=_stage(ACCOUNT))

    def _merge(self, table: Table, entity: str, source: sql.Composable | None = None) -> None:
        inserted, updated = merge(self.conn, self.job.target.table(table.name), table, source or _stage(table))
        self.counts[entity].inserted += inserted
        self.counts[entity].updated += updated

    def _record_lineage(self, clean: pl.DataFrame, meters: pl.DataFrame) -> None:
        job, run = self.job.name, self.run_id
        consumers = clean.select(
            pl.lit("consumer").alias("entity"), pl.col("consumer_id").alias("legacy_key"), "consumer_id", "row_hash"
        )
        accounts = clean.filter(pl.col("legacy_account_number").is_not_null()).select(
            pl.lit("account").alias("entity"),
            pl.col("legacy_account_number").alias("legacy_key"),
            "consumer_id",
            "row_hash",
        )
        lineage = pl.concat([consumers, accounts]).with_columns(pl.lit(job).alias("job"), pl.lit(run).alias("run_id"))
        self._copy_to_stage(
            LINEAGE,
            lineage.select(
                "job",
                "entity",
                "legacy_key",
                pl.col("consumer_id").alias("smart360_key"),
                "run_id",
                "row_hash",
                pl.col("consumer_id").alias("consumer_id_"),
            ),
        )
        # An account's SMART360 number is known only now (generated ones included): take it from the stage.
        self.conn.execute(
            sql.SQL(
                "UPDATE {lineage} l SET smart360_key = a.account_number FROM {accounts} a "
                "WHERE l.entity = 'account' AND a.consumer_id_ = l.consumer_id_"
            ).format(lineage=_stage(LINEAGE), accounts=_stage(ACCOUNT))
        )
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {lineage} (job, entity, legacy_key, smart360_key, run_id, row_hash) "
                "SELECT %s, 'meter', m.meter_number, m.meter_number, %s, l.row_hash FROM {meters} m "
                "JOIN {lineage} l ON l.entity = 'consumer' AND l.consumer_id_ = m.consumer_id_"
            ).format(lineage=_stage(LINEAGE), meters=_stage(METER)),
            [job, run],
        )
        merge(self.conn, self.job.target.table("legacy_crosswalk"), LINEAGE, _stage(LINEAGE))

    def finish(self) -> None:
        """After the last batch: what the bulk load set aside is made again (and checks every loaded row)."""
        self.set_aside.rebuild(self.conn)

    def report(self) -> tuple[dict, dict]:
        """`entities` (counts per table) and `unmapped_codes` (source code -> rows) for the run's report."""
        entities = {entity: counts.to_json() for entity, counts in self.counts.items()}
        unmapped = {
            part: dict(sorted(((spellings.most_common(1)[0][0], spellings.total()) for spellings in codes.values()),
                              key=lambda item: -item[1]))
            for part, codes in self.unmapped.items()
        }
        return entities, unmapped


def _stage(table: Table) -> sql.Identifier:
    return sql.Identifier(f"smart360_etl_stage_{table.name}")

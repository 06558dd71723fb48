"""Likely duplicate consumers: the same person under different ids.

Blocking keeps it fast: candidate pairs only come from rows that share an address, a phone number, an
e-mail address, or a postal code and name initials. The database forms the pairs in one statement: every
block key is computed once per row (the rules' keys side by side), each rule's blocks are counted, and
only the rows in a block are joined back for their names and addresses (2x faster than a query per rule).
rapidfuzz scores names and addresses in chunks, so memory stays flat whatever the table size.
Pairs are stored in `<etl_schema>.duplicate_candidate` (run_id, consumer_id_a < consumer_id_b, score,
rule) for a reviewer to work through.
"""

from __future__ import annotations

import logging

import polars as pl
from psycopg import sql
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist

from ..load.copying import copy_frames
from . import Check, Measure
from .context import RUN_ROWS, CheckContext

log = logging.getLogger("smart360_etl")
MAX_BLOCK = 200  # a "block" bigger than this is a placeholder value (a shared office number), not people
CHUNK = 20_000
NAME = "lower(concat_ws(' ', nullif(first_name, ''), nullif(last_name, '')))"
ADDRESS = "lower(coalesce(address_line_1, ''))"

# rule: (block key as SQL, minimum name similarity, minimum address similarity)
RULES = {
    "same_address_similar_name": ("lower(address_line_1) || '|' || coalesce(left(zip_code, 5), '')", 80, 0),
    "shared_phone_similar_name": ("phone_number", 80, 0),
    "shared_email_similar_name": ("lower(email_address)", 80, 0),
    # postal code, first word of the address (the house number) and sorted initials ("Ann Lee" and
    # "Lee Ann" land in the same block)
    "same_zip_similar_name_and_address": (
        "left(zip_code, 5) || '|' || split_part(address_line_1, ' ', 1) || '|' "
        "|| least(lower(left(first_name, 1)), lower(left(last_name, 1))) "
        "|| greatest(lower(left(first_name, 1)), lower(left(last_name, 1)))",
        90,
        75,
    ),
}
# Scoped, only rows that can share a block with a written row get keys: they share its address, phone,
# e-mail, or postal code and house number (every rule's key is made of one of these and more).
CANDIDATES = (
    " WHERE lower(address_line_1) IN (SELECT lower(address_line_1) FROM {rows}) "
    "OR phone_number IN (SELECT phone_number FROM {rows}) "
    "OR lower(email_address) IN (SELECT lower(email_address) FROM {rows}) "
    "OR (left(zip_code, 5), split_part(address_line_1, ' ', 1)) IN "
    "(SELECT left(zip_code, 5), split_part(address_line_1, ' ', 1) FROM {rows})"
)
PAIR_SCHEMA = {"consumer_id_a": pl.String, "consumer_id_b": pl.String, "score": pl.Float64, "rule": pl.String}


def likely_duplicates(ctx: CheckContext, check: Check) -> Measure:
    found = [pl.DataFrame(schema=PAIR_SCHEMA)]
    if ctx.scoped and not ctx.predicate_counts["total"]:  # the run wrote nothing: no new pairs
        _store(ctx, found[0])
        return Measure(0, 0, [])
    with ctx.conn.cursor(name="smart360_etl_duplicate_pairs") as cursor:  # server-side: streamed in chunks
        cursor.execute(_pairs_query(ctx))
        while rows := cursor.fetchmany(CHUNK):
            found.append(_score(rows))
    pairs = (
        pl.concat(found)
        .sort("score", descending=True)
        .unique(["consumer_id_a", "consumer_id_b"], keep="first", maintain_order=True)
    )
    _store(ctx, pairs)
    ctx.duplicate_pairs = _described(ctx, pairs.head(50))
    sample = [
        f"{r['consumer_id_a']}~{r['consumer_id_b']} ({r['rule']}, {r['score']:.0f})"
        for r in pairs.head(5).iter_rows(named=True)
    ]
    return Measure(pairs.height, ctx.predicate_counts["total"], sample)


def _pairs_query(ctx: CheckContext) -> sql.Composed:
    """(rule, id a, id b, name a, name b, address a, address b) for every two rows in one block of a rule.

    Blocks are counted by a 64-bit hash of their key: grouping integers is 3x cheaper than grouping text.
    Two keys with one hash (odds about 1 in 10^7 over a million rows) only merge two blocks: their rows
    are still scored against each other and kept only when the names are alike.
    Scoped (a run into a target that held rows), only the blocks of the rows the run wrote are formed,
    with every member the whole table has, and only pairs with a written row in them come back: the pairs
    a whole-table pass finds for those rows, without pairing the rest again.
    """
    keys = ", ".join(
        f"hashtextextended(nullif({block}, ''), 0) AS k{i}" for i, (block, _, _) in enumerate(RULES.values())
    )
    # Scoped, a block is grouped (and sized) only when a written row is in it.
    among = "WHERE k{i} IN (SELECT k{i} FROM touched) " if ctx.scoped else ""
    members = " UNION ALL ".join(
        f"SELECT {i} AS rule, k{i} AS block, consumer_id FROM keyed WHERE k{i} IN "
        f"(SELECT k{i} FROM keyed {among.format(i=i)}GROUP BY 1 HAVING count(*) BETWEEN 2 AND {{max_block}})"
        for i in range(len(RULES))
    )
    touched = "touched AS MATERIALIZED (SELECT * FROM keyed WHERE consumer_id IN (SELECT consumer_id FROM {rows})), "
    written = (
        " AND (x.consumer_id IN (SELECT consumer_id FROM {rows}) OR y.consumer_id IN (SELECT consumer_id FROM {rows}))"
    )
    return sql.SQL(
        "WITH keyed AS MATERIALIZED (SELECT consumer_id, " + keys + " FROM {consumer}"
        + (CANDIDATES if ctx.scoped else "") + "), "
        + (touched if ctx.scoped else "")
        + "members AS MATERIALIZED (" + members + "), "
        "people AS MATERIALIZED (SELECT m.rule, m.block, m.consumer_id, "
        + NAME
        + " AS name, "
        + ADDRESS
        + " AS address FROM members m JOIN {consumer} c USING (consumer_id)) "
        "SELECT x.rule, x.consumer_id, y.consumer_id, x.name, y.name, x.address, y.address "
        "FROM people x JOIN people y ON x.rule = y.rule AND x.block = y.block AND x.consumer_id < y.consumer_id"
        + (written if ctx.scoped else "")
    ).format(consumer=ctx.consumer, max_block=sql.Literal(MAX_BLOCK), rows=RUN_ROWS)


def _score(rows: list[tuple]) -> pl.DataFrame:
    """Keep the pairs whose names (and, where the rule says, addresses) are similar enough; score them."""
    rules, ids_a, ids_b, names_a, names_b, addresses_a, addresses_b = zip(*rows)
    scored = pl.DataFrame(
        {
            "rule": pl.Series(rules, dtype=pl.Int32),
            "consumer_id_a": ids_a,
            "consumer_id_b": ids_b,
            "name": cpdist(names_a, names_b, scorer=fuzz.token_sort_ratio, workers=-1),
            "address": cpdist(addresses_a, addresses_b, scorer=fuzz.token_sort_ratio, workers=-1),
        }
    )
    settings = pl.DataFrame(
        {
            "rule": pl.Series(range(len(RULES)), dtype=pl.Int32),
            "rule_name": list(RULES),
            "min_name": [name for _, name, _ in RULES.values()],
            "min_address": [address for _, _, address in RULES.values()],
        }
    )
    # rules that look at addresses score the mean of both similarities; the others, the names alone
    score = pl.when(pl.col("min_address") > 0).then((pl.col("name") + pl.col("address")) / 2).otherwise("name")
    return (
        scored.join(settings, on="rule")
        .filter((pl.col("name") >= pl.col("min_name")) & (pl.col("address") >= pl.col("min_address")))
        .select(
            "consumer_id_a",
            "consumer_id_b",
            score.round(1).cast(pl.Float64).alias("score"),
            pl.col("rule_name").alias("rule"),
        )
    )


def _described(ctx: CheckContext, pairs: pl.DataFrame) -> list[dict]:
    """The first pairs with both people's details, for the report (masked there unless the job says not)."""
    if pairs.is_empty():
        return []
    columns = ("consumer_id", "first_name", "last_name", "address_line_1", "phone_number", "email_address")
    ids = list(set(pairs["consumer_id_a"]) | set(pairs["consumer_id_b"]))
    people = pl.DataFrame(ctx.rows(ids, columns), schema={c: pl.String for c in columns})
    joined = pairs.join(people, left_on="consumer_id_a", right_on="consumer_id", how="left").join(
        people, left_on="consumer_id_b", right_on="consumer_id", how="left", suffix="_b"
    )
    return joined.to_dicts()


def _store(ctx: CheckContext, pairs: pl.DataFrame) -> None:
    table = ctx.target.table("duplicate_candidate")
    ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(table), [ctx.check_run_id])
    if pairs.is_empty():
        return
    columns = ["run_id", "consumer_id_a", "consumer_id_b", "score", "rule"]
    rows = pairs.with_columns(run_id=pl.lit(ctx.check_run_id)).select(columns)
    copy_frames(ctx.conn, table, [rows], columns)

"""Likely duplicate consumers: the same person under different ids.

Blocking keeps it fast: candidate pairs only come from rows that share an address, a phone number, an
e-mail address, or a postal code and name initials. The database forms the pairs (a hash join per
rule); rapidfuzz scores names and addresses in chunks, so memory stays flat whatever the table size.
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
from .context import CheckContext

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
PAIR_SCHEMA = {"consumer_id_a": pl.String, "consumer_id_b": pl.String, "score": pl.Float64, "rule": pl.String}


def likely_duplicates(ctx: CheckContext, check: Check) -> Measure:
    found = [_rule_pairs(ctx, rule, *settings) for rule, settings in RULES.items()]
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


def _rule_pairs(ctx: CheckContext, rule: str, block: str, min_name: int, min_address: int) -> pl.DataFrame:
    # Blocks first (one cheap key per row), names and addresses only for the rows in a block: 2x faster.
    query = sql.SQL(
        "WITH b AS (SELECT " + block + " AS block FROM {consumer} GROUP BY 1 "
        "HAVING count(*) BETWEEN 2 AND {max_block}), "
        "q AS MATERIALIZED (SELECT consumer_id, " + NAME + " AS name, " + ADDRESS + " AS address, b.block "
        "FROM {consumer} JOIN b ON " + block + " = b.block WHERE b.block <> '') "
        "SELECT x.consumer_id, y.consumer_id, x.name, y.name, x.address, y.address "
        "FROM q AS x JOIN q AS y ON x.block = y.block AND x.consumer_id < y.consumer_id"
    ).format(consumer=ctx.consumer, max_block=sql.Literal(MAX_BLOCK))
    kept = []
    with ctx.conn.cursor(name=f"smart360_etl_pairs_{rule}") as cursor:  # server-side: streamed in chunks
        cursor.execute(query)
        while rows := cursor.fetchmany(CHUNK):
            kept.append(_score(rows, rule, min_name, min_address))
    return pl.concat(kept) if kept else pl.DataFrame(schema=PAIR_SCHEMA)


def _score(rows: list[tuple], rule: str, min_name: int, min_address: int) -> pl.DataFrame:
    ids_a, ids_b, names_a, names_b, addresses_a, addresses_b = zip(*rows)
    name = cpdist(names_a, names_b, scorer=fuzz.token_sort_ratio, workers=-1)
    address = cpdist(addresses_a, addresses_b, scorer=fuzz.token_sort_ratio, workers=-1)
    scored = pl.DataFrame({"consumer_id_a": ids_a, "consumer_id_b": ids_b, "name": name, "address": address})
    kept = scored.filter((pl.col("name") >= min_name) & (pl.col("address") >= min_address))
    score = pl.col("name") if not min_address else (pl.col("name") + pl.col("address")) / 2
    return kept.select(
        "consumer_id_a", "consumer_id_b", score.round(1).cast(pl.Float64).alias("score"), pl.lit(rule).alias("rule")
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
    table = sql.Identifier(ctx.target.etl_schema, "duplicate_candidate")
    ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(table), [ctx.check_run_id])
    if pairs.is_empty():
        return
    columns = ["run_id", "consumer_id_a", "consumer_id_b", "score", "rule"]
    rows = pairs.with_columns(run_id=pl.lit(ctx.check_run_id)).select(columns)
    copy_frames(ctx.conn, table, [rows], columns)

"""Likely duplicate consumers: the same person under different ids.

Blocking keeps it fast: candidate pairs only ever come from rows that share an address, a phone
number, an e-mail address, or a postal code and name initials; within a block, names (and addresses)
are compared with rapidfuzz, vectorised over all pairs at once. Pairs are stored in
`<etl_schema>.duplicate_candidate` (run_id, consumer_id_a < consumer_id_b, score, rule) for review.
"""

from __future__ import annotations

import io
import logging

import polars as pl
from psycopg import sql
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist

from . import Check, Measure
from .context import CheckContext

log = logging.getLogger("smart360_etl")
MAX_BLOCK = 200  # a "block" bigger than this is a placeholder value (a shared office number), not people
COLUMNS = ("consumer_id", "first_name", "last_name", "address_line_1", "zip_code", "phone_number", "email_address")

# rule: (block key columns, minimum name similarity, minimum address similarity)
RULES = {
    "same_address_similar_name": (("address_key", "zip_key"), 80, 0),
    "shared_phone_similar_name": (("phone_number",), 80, 0),
    "shared_email_similar_name": (("email_address",), 80, 0),
    "same_zip_similar_name_and_address": (("zip_key", "initials"), 90, 75),
}


def find_candidates(people: pl.DataFrame) -> pl.DataFrame:
    """Pairs (consumer_id_a < consumer_id_b, score, rule) from a frame with COLUMNS."""
    keyed = _keys(people)
    found = [_pairs(keyed, rule, *settings) for rule, settings in RULES.items()]
    pairs = pl.concat(found) if found else pl.DataFrame()
    return pairs.sort("score", descending=True).unique(["consumer_id_a", "consumer_id_b"], keep="first",
                                                       maintain_order=True)


def _keys(people: pl.DataFrame) -> pl.DataFrame:
    first = pl.col("first_name").fill_null("").str.to_lowercase()
    last = pl.col("last_name").fill_null("").str.to_lowercase()
    return people.with_columns(
        name=pl.concat_str([first, last], separator=" ").str.strip_chars(),
        address_key=pl.col("address_line_1").str.to_lowercase().str.replace_all(r"[^a-z0-9]", ""),
        address=pl.col("address_line_1").fill_null("").str.to_lowercase(),
        zip_key=pl.col("zip_code").fill_null("").str.slice(0, 5),
        # sorted initials: "Ann Lee" and "Lee Ann" land in the same block
        initials=pl.min_horizontal(first.str.slice(0, 1), last.str.slice(0, 1))
        + pl.max_horizontal(first.str.slice(0, 1), last.str.slice(0, 1)),
    )


def _pairs(keyed: pl.DataFrame, rule: str, block: tuple[str, ...], min_name: int, min_address: int) -> pl.DataFrame:
    usable = keyed.drop_nulls(list(block)).filter(pl.all_horizontal(pl.col(c) != "" for c in block))
    usable = usable.filter(pl.len().over(block).is_between(2, MAX_BLOCK))
    side = usable.select("consumer_id", "name", "address", *block)
    joined = side.join(side, on=list(block), suffix="_b").filter(pl.col("consumer_id") < pl.col("consumer_id_b"))
    if joined.is_empty():
        return _empty()
    name_score = cpdist(joined["name"].to_list(), joined["name_b"].to_list(), scorer=fuzz.token_sort_ratio, workers=-1)
    address_score = cpdist(joined["address"].to_list(), joined["address_b"].to_list(),
                           scorer=fuzz.token_sort_ratio, workers=-1)
    scored = joined.with_columns(name_score=pl.Series(name_score), address_score=pl.Series(address_score))
    kept = scored.filter((pl.col("name_score") >= min_name) & (pl.col("address_score") >= min_address))
    return kept.select(
        pl.col("consumer_id").alias("consumer_id_a"), pl.col("consumer_id_b"),
        (pl.col("name_score") if not min_address else (pl.col("name_score") + pl.col("address_score")) / 2)
        .round(1).cast(pl.Float64).alias("score"),
        pl.lit(rule).alias("rule"))


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"consumer_id_a": pl.String, "consumer_id_b": pl.String, "score": pl.Float64,
                                "rule": pl.String})


def likely_duplicates(ctx: CheckContext, check: Check) -> Measure:
    people = _read_people(ctx)
    pairs = find_candidates(people)
    _store(ctx, pairs)
    ctx.duplicate_pairs = _described(pairs.head(50), people)
    sample = [f"{r['consumer_id_a']}~{r['consumer_id_b']} ({r['rule']}, {r['score']:.0f})"
              for r in pairs.head(5).iter_rows(named=True)]
    return Measure(pairs.height, people.height, sample)


def _described(pairs: pl.DataFrame, people: pl.DataFrame) -> list[dict]:
    """Pairs with both people's details, for the report (masked there unless the job says otherwise)."""
    detail = people.select("consumer_id", "first_name", "last_name", "address_line_1", "phone_number", "email_address")
    joined = (pairs.join(detail, left_on="consumer_id_a", right_on="consumer_id", how="left")
              .join(detail, left_on="consumer_id_b", right_on="consumer_id", how="left", suffix="_b"))
    return joined.to_dicts()


def _read_people(ctx: CheckContext) -> pl.DataFrame:
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    buffer = io.BytesIO()
    query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT csv)").format(columns, ctx.consumer)
    with ctx.conn.cursor().copy(query) as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.getbuffer().nbytes:
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    return pl.read_csv(buffer.getvalue(), has_header=False, new_columns=list(COLUMNS), infer_schema=False)


def _store(ctx: CheckContext, pairs: pl.DataFrame) -> None:
    table = sql.Identifier(ctx.target.etl_schema, "duplicate_candidate")
    ctx.conn.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(table), [ctx.check_run_id])
    if pairs.is_empty():
        return
    buffer = io.BytesIO()
    pairs.select(pl.lit(ctx.check_run_id).alias("run_id"), "consumer_id_a", "consumer_id_b", "score", "rule") \
        .write_csv(buffer, include_header=False)
    with ctx.conn.cursor().copy(sql.SQL("COPY {} (run_id, consumer_id_a, consumer_id_b, score, rule) FROM STDIN "
                                        "(FORMAT csv)").format(table)) as copy:
        copy.write(buffer.getbuffer())

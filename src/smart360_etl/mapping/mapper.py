"""Apply the field map to one source batch: SMART360 consumer columns plus the reasons each row earned."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from ..regions import Region
from .addresses import parse_addresses
from .emails import normalise_emails
from .fields import CONSUMER_FIELDS, FieldRule
from .names import split_names
from .phones import normalise_phones
from .text import clean

# Fields SMART360 cannot do without, and the reason a row gets when one is missing.
REQUIRED = {"consumer_id": "consumer_id_missing", "first_name": "name_incomplete",
            "last_name": "name_incomplete", "address_line_1": "address_unparsed"}
BOOKKEEPING = ("source_row_number", "reject_reasons", "warn_reasons", "source_row")


def map_batch(batch: pl.DataFrame, rules: list[FieldRule], region: Region,
              disposition: Callable[[str], str], first_row_number: int = 1) -> pl.DataFrame:
    """Map a batch of source rows (all text) to CONSUMER_FIELDS and BOOKKEEPING columns."""
    parsed: dict[tuple[str, str], pl.DataFrame] = {}
    columns: dict[str, pl.Series] = {}
    reasons: list[pl.Series] = []
    for rule in rules:
        key = (rule.column, rule.family)
        if key not in parsed:
            parsed[key] = _parse(batch[rule.column], rule.family, region)
            if "reason" in parsed[key].columns:
                reasons.append(parsed[key]["reason"])
        columns[rule.target] = _field(parsed[key], batch[rule.column], rule)
    out = pl.DataFrame([columns.get(f, pl.Series(f, [None] * batch.height, dtype=pl.String)) for f in CONSUMER_FIELDS])
    reasons += [out.select(pl.when(pl.col(f).is_null()).then(pl.lit(r))).to_series() for f, r in REQUIRED.items()]
    return out.with_columns(
        pl.int_range(first_row_number, first_row_number + batch.height, dtype=pl.Int64).alias("source_row_number"),
        *_split_reasons(reasons, disposition),
        batch.select(pl.struct(pl.all()).struct.json_encode()).to_series().alias("source_row"),
    )


def _parse(values: pl.Series, family: str, region: Region) -> pl.DataFrame:
    if family == "name":
        return split_names(values)
    if family == "address":
        return parse_addresses(values, region)
    if family == "phone":
        return normalise_phones(values, region.phone_region).rename({"phone_number": "phone", "phone_extension": "extension"})
    if family == "email":
        return normalise_emails(values).rename({"email_address": "email"})
    return values.to_frame("raw").select(clean(pl.col("raw")).alias(family))


def _field(parsed: pl.DataFrame, source: pl.Series, rule: FieldRule) -> pl.Series:
    family, _, part = rule.transform.partition(".")
    value = parsed[part or family]
    if family == "upper":
        value = value.str.to_uppercase()
    elif family == "lower":
        value = value.str.to_lowercase()
    if rule.default is not None:
        empty = source.to_frame("s").select(clean(pl.col("s")).is_null())["s"]
        value = pl.select(pl.when(empty).then(pl.lit(rule.default)).otherwise(value)).to_series()
    return value.alias(rule.target)


def _split_reasons(reasons: list[pl.Series], disposition: Callable[[str], str]) -> list[pl.Expr]:
    """Two comma-joined lists per row: reasons that reject it, and reasons that only warn."""
    frame = pl.DataFrame([r.alias(f"r{i}") for i, r in enumerate(reasons)])
    distinct = {v for col in frame.columns for v in frame[col].drop_nulls().unique().to_list()}
    rejecting = [r for r in distinct if disposition(r) == "reject"]
    every = pl.concat_list(pl.lit(frame[c]) for c in frame.columns).list.drop_nulls().list.unique(maintain_order=True)
    rejects = every.list.eval(pl.element().filter(pl.element().is_in(rejecting))).list.join(",")
    warnings = every.list.eval(pl.element().filter(~pl.element().is_in(rejecting))).list.join(",")
    return [
        pl.when(rejects != "").then(rejects).alias("reject_reasons"),
        pl.when(warnings != "").then(warnings).alias("warn_reasons"),
    ]

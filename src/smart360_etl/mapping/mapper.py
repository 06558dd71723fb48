"""Apply the field map to one source batch: SMART360 consumer columns plus the reasons each row earned."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from .. import reasons
from ..reasons import CONSUMER_ID_DUPLICATE, ENCODING_INVALID, VALUE_TOO_LONG
from ..regions import Region
from .accounts import AccountRules, map_accounts
from .addresses import parse_addresses
from .emails import normalise_emails
from .fields import CONSUMER_FIELDS, FieldRule
from .names import split_names
from .phones import normalise_phones
from .text import clean

# Fields SMART360 cannot do without, and the reason a row gets when one is missing.
REQUIRED = reasons.REQUIRED
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="smart360-etl-map")
BOOKKEEPING = ("source_row_number", "reject_reasons", "warn_reasons", "source_row", "warnings")
# The field a parse's warning is about, by parser family (the target field for the others).
_WARNED_FIELD = {"name": "name", "address": "address", "phone": "phone_number", "email": "email_address"}
WARNING = pl.Struct({"reason": pl.String, "field": pl.String, "source_column": pl.String, "source_value": pl.String})


def map_batch(
    batch: pl.DataFrame,
    rules: list[FieldRule],
    region: Region,
    disposition: Callable[[str], str],
    first_row_number: int = 1,
    duplicate_ids: pl.Series | None = None,
    row_numbers: pl.Series | None = None,
    accounts: AccountRules | None = None,
    conflicts: dict[str, pl.Series] | None = None,
) -> pl.DataFrame:
    """Map a batch of source rows (all text) to CONSUMER_FIELDS and BOOKKEEPING columns.

    `duplicate_ids` are consumer ids that occur more than once in the whole source (see load/source_keys.py):
    every copy is rejected, since which one is right cannot be known here. `row_numbers` number the rows
    when the batch is not a contiguous run of source rows (unchanged rows skipped in compare mode).
    With `accounts`, the account parts (mapping/accounts.py) are added, and their reasons reject the record;
    `conflicts` (reason -> consumer ids) rejects every record that claims an account or meter another has.
    """
    first_rule: dict[tuple[str, str], FieldRule] = {}
    for rule in rules:
        first_rule.setdefault((rule.column, rule.family), rule)
    groups = list(first_rule)
    oversized = {g: _oversized(batch[g[0]], g[1]) for g in groups}
    # The normalisers spend their time in polars (no GIL): run them side by side.
    parsed = dict(zip(groups, _POOL.map(lambda g: _parse(_capped(batch[g[0]], oversized[g]), first_rule[g], region),
                                        groups)))
    columns = {rule.target: _field(parsed[(rule.column, rule.family)], batch[rule.column], rule) for rule in rules}
    out = pl.DataFrame([columns.get(f, pl.Series(f, [None] * batch.height, dtype=pl.String)) for f in CONSUMER_FIELDS])
    reasons = [frame["reason"] for frame in parsed.values() if "reason" in frame.columns]
    reasons += [
        out.select(pl.when(pl.any_horizontal(pl.col(f).is_null() for f in fields)).then(pl.lit(reason))).to_series()
        for reason, fields in REQUIRED.items()
    ]
    limited = [pl.col(rule.target).str.len_chars() > rule.max_length for rule in rules if rule.max_length]
    limited += [pl.lit(flags) for flags in oversized.values() if flags.any()]
    reasons.append(_garbled(batch))
    if limited:
        too_long = pl.any_horizontal(limited).fill_null(False)
        reasons.append(out.select(pl.when(too_long).then(pl.lit(VALUE_TOO_LONG))).to_series())
    if accounts is not None:
        parts, account_reasons = map_accounts(batch, accounts)
        out = out.hstack(parts)
        reasons += account_reasons
    if duplicate_ids is not None and len(duplicate_ids):
        duplicated = pl.col("consumer_id").is_in(duplicate_ids.implode())
        reasons.append(out.select(pl.when(duplicated).then(pl.lit(CONSUMER_ID_DUPLICATE))).to_series())
    for reason, ids in (conflicts or {}).items():
        if len(ids):
            claimed = pl.col("consumer_id").is_in(ids.implode())
            reasons.append(out.select(pl.when(claimed).then(pl.lit(reason))).to_series())
    if row_numbers is None:
        row_numbers = pl.int_range(first_row_number, first_row_number + batch.height, dtype=pl.Int64, eager=True)
    out = out.with_columns(
        row_numbers.cast(pl.Int64).alias("source_row_number"),
        *_split_reasons(reasons, disposition),
        _warnings(parsed, batch, disposition, first_rule),
    )
    return out.with_columns(_source_json(batch, out))


def _warnings(parsed: dict, batch: pl.DataFrame, disposition: Callable[[str], str], first_rule: dict) -> pl.Series:
    """Per row, the warnings its parses earned: reason, field, source column and the source value, so that
    a nulled or doubtful value can be listed and reviewed (kept in `smart360_etl.warning`). Built from the
    few warned rows only: the cost follows the warnings, not the batch."""
    found = []
    for (column, family), frame in parsed.items():
        if "reason" not in frame.columns:
            continue
        warn_reasons = [r for r in frame["reason"].drop_nulls().unique().to_list() if disposition(r) != "reject"]
        if not warn_reasons:
            continue
        positions = frame["reason"].is_in(warn_reasons).arg_true()
        found.append(
            pl.DataFrame(
                {
                    "position": positions,
                    "reason": frame["reason"].gather(positions),
                    "field": pl.repeat(_WARNED_FIELD.get(family, first_rule[(column, family)].target), len(positions),
                                       eager=True, dtype=pl.String),
                    "source_column": pl.repeat(column, len(positions), eager=True, dtype=pl.String),
                    "source_value": batch[column].gather(positions).cast(pl.String),
                }
            )
        )
    rows = pl.DataFrame({"position": pl.int_range(0, batch.height, dtype=pl.UInt32, eager=True)})
    if not found:
        return pl.Series("warnings", [None] * batch.height, dtype=pl.List(WARNING))
    grouped = pl.concat(found).group_by("position").agg(pl.struct(list(WARNING.to_schema())).alias("warnings"))
    return rows.join(grouped, on="position", how="left", maintain_order="left")["warnings"]


def _source_json(batch: pl.DataFrame, out: pl.DataFrame) -> pl.Series:
    """The source row as JSON, only for rows with a reason: the few that a person will look at."""
    flagged = out.select(pl.col("reject_reasons").is_not_null() | pl.col("warn_reasons").is_not_null()).to_series()
    positions = flagged.arg_true()
    encoded = batch[positions].select(pl.struct(pl.all()).struct.json_encode()).to_series()
    return pl.Series("source_row", [None] * batch.height, dtype=pl.String).scatter(positions, encoded)


def map_field(batch: pl.DataFrame, rule: FieldRule, region: Region) -> pl.Series:
    """One target field of a batch, through its rule's transform."""
    return _field(_parse(batch[rule.column], rule, region), batch[rule.column], rule)


# The longest source value a parser is given, per family: no real id, name, address, phone or e-mail comes
# near it, and a huge value (a 1 MB blob in a name column) must cost its row, not the run's time. A value
# over it rejects its row (value_too_long); ids also stay under PostgreSQL's btree limit (2,704 bytes).
MAX_SOURCE_CHARS = {"id": 255, "name": 500, "address": 1000, "phone": 100, "email": 320}
MAX_TEXT_CHARS = 10_000


def _garbled(batch: pl.DataFrame) -> pl.Series:
    """`encoding_invalid` where a value holds U+FFFD: bytes that were not valid in the source's encoding
    (sources/chunks.py puts it there rather than failing the run), or a value mis-decoded before it."""
    text = [c for c, dtype in batch.schema.items() if dtype == pl.String]
    if not text:
        return pl.Series([None] * batch.height, dtype=pl.String)
    garbled = pl.any_horizontal(pl.col(c).str.contains("\ufffd", literal=True) for c in text).fill_null(False)
    return batch.select(pl.when(garbled).then(pl.lit(ENCODING_INVALID))).to_series()


def _oversized(values: pl.Series, family: str) -> pl.Series:
    limit = MAX_SOURCE_CHARS.get(family, MAX_TEXT_CHARS)
    return (values.str.len_chars() > limit).fill_null(False)


def _capped(values: pl.Series, oversized: pl.Series) -> pl.Series:
    return values if not oversized.any() else pl.select(pl.when(~oversized).then(values)).to_series()


Parser = Callable[[pl.Series, FieldRule, Region], pl.DataFrame]
# The transform families that parse a value into parts (`name.first`, `address.city`, ...): each returns one
# column per part and, where a value earned one, a `reason`. Every other family is the cleaned text itself.
PARSERS: dict[str, Parser] = {
    "name": lambda values, rule, region: split_names(values, rule.name_order),
    "address": lambda values, rule, region: parse_addresses(values, region),
    "phone": lambda values, rule, region: normalise_phones(values, region.phone_region).rename(
        {"phone_number": "phone", "phone_extension": "extension"}
    ),
    "email": lambda values, rule, region: normalise_emails(values).rename({"email_address": "email"}),
}


def _parse(values: pl.Series, rule: FieldRule, region: Region) -> pl.DataFrame:
    parser = PARSERS.get(rule.family)
    if parser is not None:
        return parser(values, rule, region)
    return values.to_frame("raw").select(clean(pl.col("raw")).alias(rule.family))


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
    """Two comma-joined lists per row (null when empty): reasons that reject it, and those that only warn."""
    distinct = {v for r in reasons for v in r.drop_nulls().unique().to_list()}
    rejecting = [r for r in distinct if disposition(r) == "reject"]
    rejects = [pl.when(pl.lit(r).is_in(rejecting)).then(pl.lit(r)) for r in reasons]
    warnings = [pl.when(~pl.lit(r).is_in(rejecting)).then(pl.lit(r)) for r in reasons]
    return [_joined(rejects).alias("reject_reasons"), _joined(warnings).alias("warn_reasons")]


def _joined(parts: Sequence[pl.Expr]) -> pl.Expr:
    text = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return pl.when(text != "").then(text)

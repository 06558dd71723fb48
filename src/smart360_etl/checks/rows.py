"""The row checks' conditions: one SQL condition per check, true where a row of the target fails it (the
region's phone plan, postal-code shape, states and ZIP prefixes); one scan evaluates them all."""

from __future__ import annotations

import json

from psycopg import sql

from . import Check, Measure
from .context import CheckContext

# These conditions run on every row of the target, so they are written for PostgreSQL's regex engine, which
# is slow on bounded repeats ({6,14}): a plain repeat and a length test cost half as much.
PHONE_E164 = r"^\+[1-9][0-9]+$"  # with a length of 8 to 16: E.164's 7 to 15 digits
EMAIL_SYNTAX = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"


def blank(column: str) -> sql.Composable:
    """Null, empty or only spaces; btrim (a copy of the value) only for the rare value that starts with one."""
    return sql.SQL("({0} IS NULL OR {0} = '' OR (starts_with({0}, ' ') AND btrim({0}) = ''))").format(
        sql.Identifier(column)
    )


def row_predicates(ctx: CheckContext) -> dict[str, sql.Composable]:
    """Check name -> the condition a failing consumer row meets."""
    region, col = ctx.region, sql.Identifier
    states = [code for code in region.states]
    predicates = {
        "consumer_id_not_null": blank("consumer_id"),
        "first_name_present": blank("first_name"),
        "last_name_present": blank("last_name"),
        "address_line_1_present": blank("address_line_1"),
        "phone_number_format": sql.SQL(
            "({p} IS NOT NULL AND NOT ({p} ~ {e164} AND length({p}) BETWEEN 8 AND 16 AND {plan}))"
        ).format(p=col("phone_number"), e164=sql.Literal(PHONE_E164), plan=_numbering_plan(region)),
        "email_address_format": sql.SQL(
            "({e} IS NOT NULL AND ({e} !~ {syntax} OR strpos({e}, '..') > 0 "
            "OR split_part({e}, '@', 2) ~ '[[:upper:]]'))"
        ).format(e=col("email_address"), syntax=sql.Literal(EMAIL_SYNTAX)),
        "zip_code_format": sql.SQL("({z} IS NOT NULL AND {z} !~* {shape})").format(
            z=col("zip_code"), shape=sql.Literal(f"^(?:{region.postal})$")
        ),
    }
    if states:
        predicates["state_known"] = sql.SQL("({s} IS NOT NULL AND NOT ({s} = ANY({codes})))").format(
            s=col("state"), codes=sql.Literal(states)
        )
    if region.postal_prefixes:
        predicates["zip_code_matches_state"] = _zip_state_mismatch(region.postal_prefixes)
    return predicates


def _numbering_plan(region) -> sql.Composable:
    """Numbers in the region's country code must fit its plan's national pattern; others need only E.164."""
    from phonenumbers import PhoneMetadata

    meta = PhoneMetadata.metadata_for_region(region.phone_region)
    if meta is None or meta.general_desc is None:
        return sql.SQL("true")
    cc = str(meta.country_code)
    national = meta.general_desc.national_number_pattern
    return sql.SQL("(left(phone_number, {n}) <> {cc} OR substr(phone_number, {start}) ~ {pattern})").format(
        n=sql.Literal(len(cc) + 1),
        cc=sql.Literal("+" + cc),
        start=sql.Literal(len(cc) + 2),
        pattern=sql.Literal(f"^(?:{national})$"),
    )


def _zip_state_mismatch(prefixes: dict[str, list[str]]) -> sql.Composable:
    """The states each 3-digit prefix belongs to, as one constant jsonb object: a lookup per row (a CASE
    over 56 states cost twice as much). Every prefix is a key, so a lookup misses only when the code does
    not start with three digits, and then the row is not judged; states without prefixes are not judged."""
    owners: dict[str, list[str]] = {f"{prefix:03d}": [] for prefix in range(1000)}
    for state, spans in prefixes.items():
        for span in spans:
            low, high = span.split("-") if "-" in span else (span, span)
            for prefix in range(int(low), int(high) + 1):
                owners[f"{prefix:03d}"].append(state)
    table = json.dumps({prefix: " ".join(states) for prefix, states in owners.items()})
    return sql.SQL("(state = ANY({states}) AND strpos({table}::jsonb ->> left(zip_code, 3), state) = 0)").format(
        states=sql.Literal(list(prefixes)), table=sql.Literal(table)
    )


def failing_rows(ctx: CheckContext, check: Check) -> Measure:
    name = check.predicate or check.name
    failing = ctx.predicate_counts[name]
    sample = ctx.sample(ctx.predicates[name]) if failing else []
    return Measure(failing, ctx.predicate_counts["total"], sample)

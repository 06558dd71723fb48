"""The quality profile: per field, how much is missing, invalid, odd or placeholder.

Its conditions are counted in the same single scan as the row checks.

Distinct counts and average widths are PostgreSQL's own statistics (ANALYZE samples the table): exact
figures would sort every column, which costs more than the rest of the profile together. A length
outlier is a value over three times the column's average width (and at least 20 characters over it).
"""

from __future__ import annotations

from psycopg import sql

from ..db import one_row
from ..mapping.fields import CONSUMER_FIELDS
from ..mapping.text import PLACEHOLDERS
from .context import CheckContext
from .rows import blank

# Every consumer field but the rare name and phone adornments.
FIELDS = tuple(f for f in CONSUMER_FIELDS if f not in ("title", "suffix", "phone_extension"))
NAME_FIELDS = {"first_name", "middle_name", "last_name", "city"}
# Which row check says a field's value is invalid.
INVALID_BY = {
    "phone_number": "phone_number_format",
    "email_address": "email_address_format",
    "zip_code": "zip_code_format",
    "state": "state_known",
}


def profile_conditions(ctx: CheckContext) -> dict[str, sql.Composable]:
    """`<field>.<figure>` -> the condition a row meets to count for it; counted in the row checks' scan."""
    widths = {field: width for field, (_, width) in _statistics(ctx).items()}
    conditions = {}
    for field in FIELDS:
        f, width = sql.Identifier(field), widths.get(field, 0)
        odd = r"[[:cntrl:]]|[0-9]" if field in NAME_FIELDS else r"[[:cntrl:]]"
        conditions[f"{field}.missing"] = blank(field)
        # far longer than the column's average (from the statistics: no extra scan)
        conditions[f"{field}.long"] = sql.SQL("length({f}) > {limit}").format(
            f=f, limit=sql.Literal(max(3 * width, width + 20))
        )
        conditions[f"{field}.odd"] = sql.SQL("{f} ~ {odd}").format(f=f, odd=sql.Literal(odd))
        # lower() under the "C" collation: placeholders are ASCII, and the ASCII path is 1.5x faster
        conditions[f"{field}.placeholder"] = sql.SQL('lower(btrim({f}) COLLATE "C") = ANY({p})').format(
            f=f, p=sql.Literal(PLACEHOLDERS)
        )
    return conditions


def quality_profile(ctx: CheckContext) -> dict[str, dict]:
    """{field: {missing, missing_rate, invalid, invalid_rate, distinct_estimate, length_outliers,
    odd_characters, placeholders}} over the rows the checks look at (CheckContext.rows_table)."""
    counts, total = ctx.predicate_counts, ctx.predicate_counts["total"]
    distinct = {field: n for field, (n, _) in _statistics(ctx).items()}
    profile = {}
    for field in FIELDS:
        missing, invalid = counts[f"{field}.missing"], counts.get(INVALID_BY.get(field, ""), 0)
        profile[field] = {
            "missing": missing,
            "missing_rate": _rate(missing, total),
            "invalid": invalid,
            "invalid_rate": _rate(invalid, total),
            "distinct_estimate": distinct.get(field, 0),
            "length_outliers": counts[f"{field}.long"],
            "odd_characters": counts[f"{field}.odd"],
            "placeholders": counts[f"{field}.placeholder"],
        }
    return profile


def _statistics(ctx: CheckContext) -> dict[str, tuple[int, int]]:
    """(distinct values, average width) per column, from the statistics the check runner gathered."""
    table = ctx.rows_table.as_string(ctx.conn)
    reltuples = "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass"
    total = one_row(ctx.conn.execute(reltuples, [table]))[0]
    rows = ctx.conn.execute(
        "SELECT s.attname, s.n_distinct, s.avg_width FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname WHERE c.oid = %s::regclass",
        [table],
    ).fetchall()
    # n_distinct < 0 is a fraction of the rows (-1: all distinct)
    return {name: (round(-n * total) if n < 0 else round(n), width) for name, n, width in rows}


def _rate(count: int, total: int) -> float:
    return round(count / total, 6) if total else 0.0

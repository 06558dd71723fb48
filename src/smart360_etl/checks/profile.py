"""The quality profile: per field, how much is missing, invalid, odd or placeholder, in two scans.

Distinct counts and average widths are PostgreSQL's own statistics (ANALYZE samples the table): exact
figures would sort every column, which costs more than the rest of the profile together. A length
outlier is a value over three times the column's average width (and at least 20 characters over it).
"""

from __future__ import annotations

from psycopg import sql

from .context import CheckContext

FIELDS = (
    "consumer_id",
    "first_name",
    "middle_name",
    "last_name",
    "address_line_1",
    "address_line_2",
    "city",
    "state",
    "zip_code",
    "phone_number",
    "email_address",
)
NAME_FIELDS = {"first_name", "middle_name", "last_name", "city"}
PLACEHOLDERS = ["n/a", "na", "unknown", "test", "none", "null", "xxx", "000-000-0000", "-", ".", "tbd", "0"]
# Which row check says a field's value is invalid.
INVALID_BY = {
    "phone_number": "phone_number_format",
    "email_address": "email_address_format",
    "zip_code": "zip_code_format",
    "state": "state_known",
}


def quality_profile(ctx: CheckContext) -> dict[str, dict]:
    """{field: {missing, missing_rate, invalid, invalid_rate, distinct, length_outliers, odd_characters,
    placeholders}} over the whole consumer table."""
    total = ctx.predicate_counts["total"]
    stats = _statistics(ctx, total)
    parts = []
    for field in FIELDS:
        f = sql.Identifier(field)
        width = stats.get(field, (0, 0))[1]
        odd = r"[[:cntrl:]]|[0-9]" if field in NAME_FIELDS else r"[[:cntrl:]]"
        parts += [
            sql.SQL("count(*) FILTER (WHERE {f} IS NULL OR btrim({f}) = '')").format(f=f),
            # far longer than the column's average (from the statistics: no extra scan)
            sql.SQL("count(*) FILTER (WHERE length({f}) > {limit})").format(
                f=f, limit=sql.Literal(max(3 * width, width + 20))
            ),
            sql.SQL("count(*) FILTER (WHERE {f} ~ {odd})").format(f=f, odd=sql.Literal(odd)),
            sql.SQL("count(*) FILTER (WHERE lower(btrim({f})) = ANY({p}))").format(f=f, p=sql.Literal(PLACEHOLDERS)),
        ]
    row = ctx.conn.execute(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(parts), ctx.consumer)).fetchone()
    profile = {}
    for i, field in enumerate(FIELDS):
        missing, outliers, odd, placeholders = row[i * 4 : (i + 1) * 4]
        invalid = ctx.predicate_counts.get(INVALID_BY.get(field, ""), 0)
        profile[field] = {
            "missing": missing,
            "missing_rate": _rate(missing, total),
            "invalid": invalid,
            "invalid_rate": _rate(invalid, total),
            "distinct_estimate": stats.get(field, (0, 0))[0],
            "length_outliers": outliers,
            "odd_characters": odd,
            "placeholders": placeholders,
        }
    return profile


def _statistics(ctx: CheckContext, total: int) -> dict[str, tuple[int, int]]:
    """(distinct values, average width) per column, from the statistics the check runner gathered."""
    rows = ctx.conn.execute(
        "SELECT attname, n_distinct, avg_width FROM pg_stats WHERE schemaname = %s AND tablename = 'consumer'",
        [ctx.target.schema_],
    ).fetchall()
    # n_distinct < 0 is a fraction of the rows (-1: all distinct)
    return {name: (round(-n * total) if n < 0 else round(n), width) for name, n, width in rows}


def _rate(count: int, total: int) -> float:
    return round(count / total, 6) if total else 0.0

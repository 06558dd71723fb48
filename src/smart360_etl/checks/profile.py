"""The quality profile: per field, how much is missing, invalid, odd or placeholder, in two scans.

Distinct counts are PostgreSQL's own estimates (ANALYZE samples the table): exact counts would sort
every column of the table, which costs more than the rest of the profile together.
"""

from __future__ import annotations

from psycopg import sql

from .context import CheckContext

FIELDS = ("consumer_id", "first_name", "middle_name", "last_name", "address_line_1", "address_line_2", "city",
          "state", "zip_code", "phone_number", "email_address")
NAME_FIELDS = {"first_name", "middle_name", "last_name", "city"}
PLACEHOLDERS = ["n/a", "na", "unknown", "test", "none", "null", "xxx", "000-000-0000", "-", ".", "tbd", "0"]
# Which row check says a field's value is invalid.
INVALID_BY = {"phone_number": "phone_number_format", "email_address": "email_address_format",
              "zip_code": "zip_code_format", "state": "state_known"}


def quality_profile(ctx: CheckContext) -> dict[str, dict]:
    """{field: {missing, missing_rate, invalid, invalid_rate, distinct, length_outliers, odd_characters,
    placeholders}} over the whole consumer table."""
    total = ctx.predicate_counts["total"]
    stats = _length_stats(ctx)
    parts = []
    for field in FIELDS:
        f = sql.Identifier(field)
        mean, spread = stats[field]
        odd = r"[[:cntrl:]]|[0-9]" if field in NAME_FIELDS else r"[[:cntrl:]]"
        parts += [
            sql.SQL("count(*) FILTER (WHERE {f} IS NULL OR btrim({f}) = '')").format(f=f),
            sql.SQL("count(*) FILTER (WHERE abs(length({f}) - {m}) > greatest(4 * {s}, 3))").format(
                f=f, m=sql.Literal(mean), s=sql.Literal(spread)),
            sql.SQL("count(*) FILTER (WHERE {f} ~ {odd})").format(f=f, odd=sql.Literal(odd)),
            sql.SQL("count(*) FILTER (WHERE lower(btrim({f})) = ANY({p}))").format(f=f, p=sql.Literal(PLACEHOLDERS)),
        ]
    row = ctx.conn.execute(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(parts), ctx.consumer)).fetchone()
    distinct = _distinct_estimates(ctx, total)
    profile = {}
    for i, field in enumerate(FIELDS):
        missing, outliers, odd, placeholders = row[i * 4:(i + 1) * 4]
        invalid = ctx.predicate_counts.get(INVALID_BY.get(field, ""), 0)
        profile[field] = {
            "missing": missing, "missing_rate": _rate(missing, total), "invalid": invalid,
            "invalid_rate": _rate(invalid, total), "distinct_estimate": distinct.get(field, 0),
            "length_outliers": outliers,
            "odd_characters": odd, "placeholders": placeholders,
        }
    return profile


def _distinct_estimates(ctx: CheckContext, total: int) -> dict[str, int]:
    """From the statistics the check runner gathered (ANALYZE) before the checks."""
    rows = ctx.conn.execute("SELECT attname, n_distinct FROM pg_stats WHERE schemaname = %s AND tablename = 'consumer'",
                            [ctx.target.schema_]).fetchall()
    # n_distinct < 0 is a fraction of the rows (-1: all distinct)
    return {name: round(-n * total) if n < 0 else round(n) for name, n in rows}


def _length_stats(ctx: CheckContext) -> dict[str, tuple[float, float]]:
    parts = sql.SQL(", ").join(
        sql.SQL("coalesce(avg(length({f})), 0), coalesce(stddev_pop(length({f})), 0)").format(f=sql.Identifier(f))
        for f in FIELDS)
    row = ctx.conn.execute(sql.SQL("SELECT {} FROM {}").format(parts, ctx.consumer)).fetchone()
    return {f: (round(float(row[2 * i]), 3), round(float(row[2 * i + 1]), 3)) for i, f in enumerate(FIELDS)}


def _rate(count: int, total: int) -> float:
    return round(count / total, 6) if total else 0.0

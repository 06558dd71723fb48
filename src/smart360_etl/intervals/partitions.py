"""The partitions of `interval_reading`: one per month of the job's time zone, each split by LIST on
`meter_bucket` into one leaf per bucket. A unit of work builds its leaf's new contents in a table of its
own and swaps it in: detach and drop the old leaf, attach the new one, all inside the unit's transaction,
so a killed unit leaves the old leaf as it was."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..db import one_row
from ..errors import TargetError

COLUMNS = ("meter_number", "channel", "interval_start", "seconds", "value", "unit", "quality", "vee_flags",
           "meter_bucket")
KEY = ("meter_number", "channel", "interval_start")


def month_bounds(month: date, zone: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, at local midnight."""
    tz = ZoneInfo(zone)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return datetime(month.year, month.month, 1, tzinfo=tz), datetime(following.year, following.month, 1, tzinfo=tz)


def month_table(target: TargetConfig, month: date) -> sql.Identifier:
    return sql.Identifier(target.schema_, f"interval_reading_y{month:%Y}m{month:%m}")


def leaf_name(month: date, bucket: int) -> str:
    return f"interval_reading_y{month:%Y}m{month:%m}_b{bucket:03d}"


def existing_buckets(conn: psycopg.Connection, target: TargetConfig) -> dict[date, int]:
    """Months that have partitions -> their bucket count (a month keeps the count it was made with)."""
    rows = conn.execute(
        sql.SQL("SELECT month, buckets FROM {} WHERE target_schema = %s").format(target.table("interval_partition")),
        [target.schema_],
    )
    return dict(rows.fetchall())


def ensure_month(conn: psycopg.Connection, target: TargetConfig, month: date, zone: str, buckets: int) -> None:
    """The month's partition and its empty leaves, made once (committed at once; concurrent units wait)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     [f"smart360-etl:{target.schema_}:{month}"])
        known = existing_buckets(conn, target).get(month)
        if known is not None:
            if known != buckets:
                raise TargetError(f"the {month:%Y-%m} partition has {known} meter buckets, this run {buckets}")
            return
        start, end = month_bounds(month, zone)
        conn.execute(sql.SQL(
            "CREATE TABLE {month} PARTITION OF {parent} FOR VALUES FROM ({start}) TO ({end}) PARTITION BY LIST "
            "(meter_bucket)"
        ).format(month=month_table(target, month), parent=target.table("interval_reading"),
                 start=sql.Literal(start.isoformat()), end=sql.Literal(end.isoformat())))
        for bucket in range(buckets):
            conn.execute(sql.SQL("CREATE TABLE {leaf} PARTITION OF {month} FOR VALUES IN ({bucket})").format(
                leaf=sql.Identifier(target.schema_, leaf_name(month, bucket)), month=month_table(target, month),
                bucket=sql.Literal(bucket)))
        conn.execute(
            sql.SQL("INSERT INTO {} (target_schema, month, timezone, buckets) VALUES (%s, %s, %s, %s)").format(
                target.table("interval_partition")), [target.schema_, month, zone, buckets])


def create_incoming(conn: psycopg.Connection, target: TargetConfig, month: date, bucket: int,
                    zone: str) -> sql.Identifier:
    """A table shaped like the leaf, with a CHECK implying the partition bound (ATTACH then skips its scan)."""
    incoming = sql.Identifier(target.schema_, leaf_name(month, bucket) + "_incoming")
    start, end = month_bounds(month, zone)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(incoming))
    conn.execute(sql.SQL(
        "CREATE TABLE {incoming} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        "CONSTRAINT in_partition CHECK (interval_start >= {start} AND interval_start < {end} "
        "AND meter_bucket = {bucket}))"
    ).format(incoming=incoming, parent=target.table("interval_reading"), start=sql.Literal(start.isoformat()),
             end=sql.Literal(end.isoformat()), bucket=sql.Literal(bucket)))
    return incoming


def compare_and_keep(conn: psycopg.Connection, incoming: sql.Identifier, leaf: sql.Identifier,
                     rows: int) -> dict[str, int]:
    """Inserted, updated, unchanged against the old leaf; its reads this run did not bring are kept.
    `rows`: the reads in `incoming` (all inserted when the old leaf is empty, as on a first load)."""
    if one_row(conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(leaf)))[0]:
        return {"inserted": rows, "updated": 0, "unchanged": 0, "kept": 0}
    same = sql.SQL(" AND ").join(sql.SQL("o.{c} = n.{c}").format(c=sql.Identifier(c)) for c in KEY)
    row = conn.execute(sql.SQL(
        "SELECT count(*) FILTER (WHERE o.meter_number IS NULL), "
        "count(*) FILTER (WHERE o.meter_number IS NOT NULL AND (o.value, o.seconds, o.unit, o.quality, o.vee_flags) "
        "IS DISTINCT FROM (n.value, n.seconds, n.unit, n.quality, n.vee_flags)), "
        "count(*) FILTER (WHERE o.meter_number IS NOT NULL AND (o.value, o.seconds, o.unit, o.quality, o.vee_flags) "
        "IS NOT DISTINCT FROM (n.value, n.seconds, n.unit, n.quality, n.vee_flags)) "
        "FROM {incoming} n LEFT JOIN {leaf} o ON {same}"
    ).format(incoming=incoming, leaf=leaf, same=same)).fetchone()
    assert row is not None
    kept = conn.execute(sql.SQL(
        "INSERT INTO {incoming} SELECT o.* FROM {leaf} o WHERE NOT EXISTS (SELECT FROM {incoming} n WHERE {same})"
    ).format(incoming=incoming, leaf=leaf, same=same)).rowcount
    return {"inserted": row[0], "updated": row[1], "unchanged": row[2], "kept": kept}


def swap_in(conn: psycopg.Connection, target: TargetConfig, month: date, bucket: int, incoming: sql.Identifier) -> None:
    name = leaf_name(month, bucket)
    leaf = sql.Identifier(target.schema_, name)
    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (meter_bucket, meter_number, channel, "
                         "interval_start)").format(incoming, sql.Identifier(name + "_incoming_pkey")))
    conn.execute(sql.SQL("ALTER TABLE {month} DETACH PARTITION {leaf}").format(month=month_table(target, month),
                                                                               leaf=leaf))
    conn.execute(sql.SQL("DROP TABLE {}").format(leaf))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(incoming, sql.Identifier(name)))
    conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(
        sql.Identifier(target.schema_, name + "_incoming_pkey"), sql.Identifier(name + "_pkey")))
    conn.execute(sql.SQL("ALTER TABLE {month} ATTACH PARTITION {leaf} FOR VALUES IN ({bucket})").format(
        month=month_table(target, month), leaf=leaf, bucket=sql.Literal(bucket)))

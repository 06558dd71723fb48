"""Foreign keys and secondary indexes (and, for the lineage table, its key) set aside while empty tables
take a bulk load, and rebuilt after it: the way pg_restore loads data.

A foreign key is checked row by row during COPY; added after the load it is one set-based check. The
lineage table's key, a three-column index that outgrows shared buffers, slows its COPY most (README,
Benchmark, has the figures).

Everything happens inside the run's transaction: on any error the rollback restores the definitions, and
a foreign key that the loaded rows break fails the run (by the constraint's name) instead of being lost.
Only tables the run's role owns are touched; other tables keep their constraints and load the slow way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ..db import for_whole_tables, one_row

log = logging.getLogger("smart360_etl")

# (how to drop it, how to make it again, its comment or null, kind) for the foreign keys *from* the tables
# and their plain indexes; with `keys`, also their primary keys and unique constraints that no foreign key
# depends on. An index that logical replication identifies rows by is left in place.
_DEFINITIONS = """
SELECT format('ALTER TABLE %%s DROP CONSTRAINT %%I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %%s ADD CONSTRAINT %%I %%s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)),
       format('COMMENT ON CONSTRAINT %%I ON %%s IS %%L', c.conname, c.conrelid::regclass,
              obj_description(c.oid, 'pg_constraint')),
       CASE c.contype WHEN 'f' THEN 'foreign key' ELSE 'key' END
FROM pg_constraint c WHERE c.conrelid = ANY(%(tables)s::regclass[])
  AND (c.contype = 'f' OR (%(keys)s AND c.contype IN ('p', 'u')
       AND NOT EXISTS (SELECT FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)
       AND NOT EXISTS (SELECT FROM pg_index x WHERE x.indexrelid = c.conindid AND x.indisreplident)))
UNION ALL
SELECT format('DROP INDEX %%s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid),
       format('COMMENT ON INDEX %%s IS %%L', i.indexrelid::regclass, obj_description(i.indexrelid, 'pg_class')),
       'index'
FROM pg_index i WHERE i.indrelid = ANY(%(tables)s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT i.indisreplident AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""
_REBUILD_ORDER = ("key", "index", "foreign key")  # a foreign key needs the key it points at


@dataclass
class SetAside:
    """What was dropped, with the statements that make it again (keys, then indexes, then foreign keys)."""

    restore: list[str] = field(default_factory=list)

    def __add__(self, other: SetAside) -> SetAside:
        """Both, `other` rebuilt after `self` (for sets of tables that do not point at each other)."""
        return SetAside(self.restore + other.restore)

    def rebuild(self, conn: psycopg.Connection) -> None:
        if self.restore:  # a foreign key's check is one join over whole tables, an index one sort
            for_whole_tables(conn)
        for statement in self.restore:
            conn.execute(sql.SQL(statement))  # definitions from the catalog
        if self.restore:
            made = sum(not statement.startswith("COMMENT") for statement in self.restore)
            log.info("rebuilt %d key(s), foreign key(s) and index(es) after the bulk load", made)
        self.restore = []


def set_aside(conn: psycopg.Connection, tables: list[sql.Identifier], keys: bool = False) -> SetAside:
    """Drop the foreign keys and plain indexes of `tables` (and with `keys`, their primary and unique keys)
    when the role owns them all; else drop nothing."""
    names = [table.as_string(conn) for table in tables]
    owned = one_row(conn.execute(
        "SELECT bool_and(pg_has_role(relowner, 'USAGE')) FROM pg_class WHERE oid = ANY(%s::regclass[])", [names]
    ))[0]
    if not owned:
        log.info("not the owner of %s: constraints stay in place during the load", ", ".join(names))
        return SetAside()
    rows = conn.execute(_DEFINITIONS, {"tables": names, "keys": keys}).fetchall()
    for drop, *_ in sorted(rows, key=lambda row: -_REBUILD_ORDER.index(row[3])):  # foreign keys first
        conn.execute(sql.SQL(drop))
    restore = []
    for _, make, comment, _ in sorted(rows, key=lambda row: _REBUILD_ORDER.index(row[3])):
        restore += [make] + ([comment] if not comment.endswith(" IS NULL") else [])  # its comment, if any
    log.info(
        "bulk load into empty %s: %d constraint(s) and index(es) set aside until it ends",
        ", ".join(names),
        len(rows),
    )
    return SetAside(restore)

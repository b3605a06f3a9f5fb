"""One cheap catalog query per database that changes whenever its schema changes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_POSTGRESQL = """
WITH ns AS (
  SELECT oid FROM pg_namespace
   WHERE nspname = ANY(CAST(:names AS text[])) OR (:with_default AND nspname = current_schema())
)
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
  SELECT concat_ws(':', c.oid, c.relname, c.relkind, c.relnatts) AS x
    FROM pg_class c
   WHERE c.relnamespace  IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'i', 'v')
  UNION ALL
  SELECT concat_ws(':', a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relnamespace  IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p') AND a.attnum > 0
     AND NOT a.attisdropped
  UNION ALL
  SELECT concat_ws(':', o.oid, o.conname, o.contype, o.conrelid, o.conkey)
    FROM pg_constraint o WHERE o.connamespace  IN (SELECT oid FROM ns)
  UNION ALL
  SELECT concat_ws(':', t.oid, t.typname) FROM pg_type t
   WHERE t.typnamespace  IN (SELECT oid FROM ns) AND t.typtype = 'e'
) parts
"""

_MYSQL = """
SELECT
 (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME,
    COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '~'),
    COLUMN_KEY, EXTRA))), 0))
    FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA IN :schemas),
 (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME,
    INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME))), 0))
    FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA IN :schemas),
 (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_SCHEMA,
    TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, COALESCE(REFERENCED_TABLE_NAME, '~'),
    COALESCE(REFERENCED_COLUMN_NAME, '~')))), 0))
    FROM information_schema.KEY_COLUMN_USAGE
    WHERE TABLE_SCHEMA IN :schemas),
 (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME,
    TABLE_TYPE))), 0))
    FROM information_schema.TABLES
    WHERE TABLE_SCHEMA IN :schemas)
"""


def fingerprint(conn: Connection, schemas: Sequence[str | None]) -> str:
    """A short string that differs whenever any table, column, index or constraint changes."""
    name = conn.dialect.name
    if name == "sqlite":
        parts = [
            str(conn.exec_driver_sql(f"PRAGMA {_sqlite_schema(s)}.schema_version").scalar())
            for s in schemas
        ]
        return "sqlite:" + ",".join(parts)
    if name == "postgresql":
        params = {"names": [s for s in schemas if s], "with_default": None in schemas}
        value = conn.execute(sa.text(_POSTGRESQL), params).scalar()
        return f"pg:{value}"
    if name == "mysql":
        stmt = sa.text(_MYSQL).bindparams(sa.bindparam("schemas", expanding=True))
        # Plain names, no OR: MariaDB then opens only these schemas' tables instead of
        # scanning every database on the server (10-100x faster with many databases).
        names = [s for s in schemas if s]
        if None in schemas:
            names.append(str(conn.exec_driver_sql("SELECT DATABASE()").scalar()))
        row = conn.execute(stmt, {"schemas": names}).one()
        return "mysql:" + hashlib.sha1("/".join(map(str, row)).encode()).hexdigest()
    raise NotImplementedError(f"no fingerprint for dialect {name!r}")


def _sqlite_schema(schema: str | None) -> str:
    return '"main"' if schema is None else '"' + schema.replace('"', '""') + '"'

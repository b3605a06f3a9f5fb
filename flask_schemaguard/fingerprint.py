"""One cheap catalog query per database that changes whenever its schema changes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Rows of the catalog that make up the schema; the fingerprint is their count and the sum of
# their 64-bit hashes (no sort: ~2x cheaper than an md5 of the sorted rows, which PostgreSQL
# before 11, without hashtextextended, still uses).
_POSTGRESQL_ROWS = """
WITH ns AS (
  SELECT oid FROM pg_namespace
   WHERE nspname = ANY(CAST(:names AS text[])) OR (:with_default AND nspname = current_schema())
)
SELECT {aggregate} FROM (
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
_POSTGRESQL = _POSTGRESQL_ROWS.replace(
    "{aggregate}", "count(*) || ':' || coalesce(sum(hashtextextended(x, 0)), 0)"
)
_POSTGRESQL_BEFORE_11 = _POSTGRESQL_ROWS.replace(
    "{aggregate}", "md5(coalesce(string_agg(x, ',' ORDER BY x), ''))"
)

# One CRC per catalog row, summed per information_schema table. ``fastreflect``'s MariaDB
# reader sums the same expressions per table while it reads the schema, so a full check gets
# this fingerprint without scanning the catalog twice.
MYSQL_ROW_CRC = {
    "COLUMNS": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, "
    "COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '~'), COLUMN_KEY, EXTRA))",
    "STATISTICS": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, "
    "SEQ_IN_INDEX, COLUMN_NAME))",
    "KEY_COLUMN_USAGE": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, "
    "COLUMN_NAME, COALESCE(REFERENCED_TABLE_NAME, '~'), COALESCE(REFERENCED_COLUMN_NAME, '~')))",
    "TABLES": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE))",
}

_MYSQL = "SELECT " + ",\n".join(
    f" (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM({crc}), 0)) "
    f"FROM information_schema.{table} WHERE TABLE_SCHEMA IN :schemas)"
    for table, crc in MYSQL_ROW_CRC.items()
)


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
        value = conn.execute(sa.text(_postgresql(conn)), params).scalar()
        return f"pg:{value}"
    if name == "mysql":
        stmt = sa.text(_MYSQL).bindparams(sa.bindparam("schemas", expanding=True))
        row = conn.execute(stmt, {"schemas": _mysql_schemas(conn, schemas)}).one()
        return _mysql_fingerprint(tuple(row))
    raise NotImplementedError(f"no fingerprint for dialect {name!r}")


def _mysql_schemas(conn: Connection, schemas: Sequence[str | None]) -> list[str]:
    """Plain names, no OR: MariaDB then opens only these schemas' tables instead of scanning
    every database on the server (10-100x faster with many databases)."""
    names = [s for s in schemas if s]
    if None in schemas:
        # The database the dialect read when it connected (what reflection reads too).
        default = conn.dialect.default_schema_name
        if not default:
            default = str(conn.exec_driver_sql("SELECT DATABASE()").scalar())
        names.append(default)
    return names


def _mysql_fingerprint(row: tuple[object, ...]) -> str:
    return "mysql:" + hashlib.sha1("/".join(map(str, row)).encode()).hexdigest()


def mysql_fingerprint_of(sums: dict[str, tuple[int, int]]) -> str:
    """The fingerprint from (row count, CRC sum) per information_schema table."""
    return _mysql_fingerprint(tuple(f"{n}:{total}" for n, total in sums.values()))


def _postgresql(conn: Connection) -> str:
    version = getattr(conn.dialect, "server_version_info", None) or (0,)
    return _POSTGRESQL if tuple(version) >= (11,) else _POSTGRESQL_BEFORE_11


def _sqlite_schema(schema: str | None) -> str:
    return '"main"' if schema is None else '"' + schema.replace('"', '""') + '"'


Recorded = tuple[str, str]
"""A state row: the fingerprint recorded with an in-sync check, and that check's items (JSON)."""


def fingerprint_and_state(
    conn: Connection, schemas: Sequence[str | None], state_table: str, models_hash: str
) -> tuple[str, Recorded | None]:
    """The fingerprint and the state row recorded for ``models_hash``, in one round trip.

    The fast path of a check on an unchanged schema costs just this statement. Without a
    state table yet (the statement fails), the plain fingerprint is returned with None.
    """
    name = conn.dialect.name
    quoted = conn.dialect.identifier_preparer.quote(state_table)
    join = f" FROM (SELECT 1) AS one LEFT JOIN {quoted} AS s ON s.models_hash = :models_hash"
    try:
        if name == "sqlite" and tuple(schemas) == (None,) and conn.dialect.paramstyle == "qmark":
            # A driver-level statement (SQLAlchemy's statement caching would cost more than the
            # pragma itself) and one column for the row: the cheapest form (~10 us over the
            # bare pragma). The main database's schema_version; attached ones differ.
            version, packed = conn.exec_driver_sql(
                "SELECT schema_version, (SELECT fingerprint || char(31) || items "
                f"FROM {quoted} WHERE models_hash = ?) FROM pragma_schema_version",
                (models_hash,),
            ).one()
            fp = f"sqlite:{version}"
            if packed is None:
                return fp, None
            recorded_fp, _, items = packed.partition("\x1f")
            return fp, (recorded_fp, items)
        elif name == "postgresql":
            sql = f"SELECT ({_postgresql(conn)}), s.fingerprint, s.items"
            params = {
                "names": [s for s in schemas if s],
                "with_default": None in schemas,
                "models_hash": models_hash,
            }
            row = conn.execute(sa.text(sql + join), params).one()
            fp = f"pg:{row[0]}"
        elif name == "mysql":
            parts = _MYSQL.strip()
            assert parts.startswith("SELECT")
            stmt = sa.text(parts + ", s.fingerprint, s.items" + join).bindparams(
                sa.bindparam("schemas", expanding=True)
            )
            params = {"schemas": _mysql_schemas(conn, schemas), "models_hash": models_hash}
            row = conn.execute(stmt, params).one()
            fp = _mysql_fingerprint(row[:-2])
        else:
            fp = fingerprint(conn, schemas)
            state_row = conn.execute(
                sa.text(
                    f"SELECT s.fingerprint, s.items FROM {quoted} AS s "
                    "WHERE s.models_hash = :models_hash"
                ),
                {"models_hash": models_hash},
            ).first()
            return fp, None if state_row is None else (state_row[0], state_row[1])
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        conn.rollback()  # no state table yet: PostgreSQL needs the failed transaction ended
        return fingerprint(conn, schemas), None
    recorded = None if row[-2] is None else (str(row[-2]), str(row[-1]))
    return fp, recorded

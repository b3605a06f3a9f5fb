"""MariaDB's bulk catalog reader: ``information_schema`` in 4 statements per schema, one
row per table; column lines rebuilt as ``SHOW CREATE TABLE`` prints them and parsed by
SQLAlchemy's MySQL parser, so the result equals ``Inspector.get_multi_*``'s. The same
statements sum the fingerprint's row CRCs (``ROW_CRC``), so a full check has the fingerprint
without a second pass over the catalog. MySQL proper renders ``SHOW CREATE TABLE``
differently from ``information_schema`` (defaults, character sets), so it keeps the
inspector path, as does a value holding the reader's separators."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from ..shape import (
    ColumnShape,
    ForeignKeyShape,
    IndexShape,
    ObjectKey,
    SchemaShape,
    TableKey,
    TableShape,
)
from .catalog import by_name, step_aside, table_shape
from .inspector import fk_options
from .types import compile_type, labels_of

logger = logging.getLogger("flask_schemaguard")

# SQLAlchemy internals this reader uses, in one place (with MySQLDialect._tabledef_parser and
# its _parse_column): without them the reader steps aside.
try:
    from sqlalchemy.dialects.mysql.reflection import ReflectedState
except ImportError:  # depends on the SQLAlchemy version
    ReflectedState = None  # type: ignore[assignment, misc]

# One CRC per catalog row, summed per information_schema table: the fingerprint. The reader
# sums the same expressions per table while it reads the schema.
ROW_CRC = {
    "COLUMNS": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, "
    "COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '~'), COLUMN_KEY, EXTRA))",
    "STATISTICS": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, "
    "SEQ_IN_INDEX, COLUMN_NAME))",
    "KEY_COLUMN_USAGE": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, "
    "COLUMN_NAME, COALESCE(REFERENCED_TABLE_NAME, '~'), COALESCE(REFERENCED_COLUMN_NAME, '~')))",
    "TABLES": "CRC32(CONCAT_WS('|', TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE))",
    "REFERENTIAL_CONSTRAINTS": "CRC32(CONCAT_WS('|', CONSTRAINT_SCHEMA, TABLE_NAME, "
    "CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE))",
}
#: The column naming the schema, where it is not TABLE_SCHEMA.
SCHEMA_COLUMN = {"REFERENTIAL_CONSTRAINTS": "CONSTRAINT_SCHEMA"}


# One row per table; fields joined with U+001F, rows with U+001E (checked when split). Each
# statement also sums the fingerprint's row CRCs per table (ROW_CRC below), so
# a full check has the schema's fingerprint without a second pass over the catalog.
_MY_FS = "'\x1f'"
_MY_RS = "'\x1e'"

# Foreign-key actions (InnoDB's RESTRICT and NO ACTION are the same: the default).
_MY_ACTIONS = f"""
SELECT TABLE_NAME, COUNT(*), SUM({ROW_CRC["REFERENTIAL_CONSTRAINTS"]}),
       GROUP_CONCAT(CONCAT_WS({_MY_FS}, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE)
                    SEPARATOR {_MY_RS})
  FROM information_schema.REFERENTIAL_CONSTRAINTS
 WHERE CONSTRAINT_SCHEMA = %(schema)s
 GROUP BY TABLE_NAME
"""

_MY_SCHEMATA = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN %(names)s"

# (Joining information_schema tables makes MariaDB fill one per row of the other: slow.)
_MY_TABLES = f"""
SELECT TABLE_NAME, TABLE_TYPE, TABLE_COLLATION, {ROW_CRC["TABLES"]}
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %(schema)s
"""

_MY_COLUMNS = f"""
SELECT TABLE_NAME, COUNT(*), SUM({ROW_CRC["COLUMNS"]}),
       GROUP_CONCAT(CONCAT_WS({_MY_FS}, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
                              IFNULL(COLUMN_DEFAULT, 'NULL'), EXTRA,
                              IFNULL(CHARACTER_SET_NAME, ''), IFNULL(COLLATION_NAME, ''))
                    ORDER BY ORDINAL_POSITION SEPARATOR {_MY_RS})
  FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = %(schema)s
 GROUP BY TABLE_NAME
"""

_MY_INDEXES = f"""
SELECT TABLE_NAME, COUNT(*), SUM({ROW_CRC["STATISTICS"]}),
       GROUP_CONCAT(CONCAT_WS({_MY_FS}, INDEX_NAME, NON_UNIQUE, COLUMN_NAME)
                    ORDER BY INDEX_NAME, SEQ_IN_INDEX SEPARATOR {_MY_RS})
  FROM information_schema.STATISTICS
 WHERE TABLE_SCHEMA = %(schema)s
 GROUP BY TABLE_NAME
"""

# Every key column row for the fingerprint; the foreign keys' rows for the shape.
_MY_FOREIGN_KEYS = f"""
SELECT TABLE_NAME, COUNT(*), SUM({ROW_CRC["KEY_COLUMN_USAGE"]}),
       COUNT(REFERENCED_TABLE_NAME),
       GROUP_CONCAT(CASE WHEN REFERENCED_TABLE_NAME IS NOT NULL THEN
                      CONCAT_WS({_MY_FS}, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA,
                                REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME) END
                    ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION SEPARATOR {_MY_RS})
  FROM information_schema.KEY_COLUMN_USAGE
 WHERE TABLE_SCHEMA = %(schema)s
 GROUP BY TABLE_NAME
"""


def _action(rule: str) -> str | None:
    """An InnoDB referential action as SHOW CREATE TABLE spells it (the default omitted)."""
    return None if rule.upper() in ("RESTRICT", "NO ACTION") else rule


def _generated(extra: str) -> str | None:
    text = extra.upper()
    if "GENERATED" not in text:
        return None
    return "stored" if "STORED" in text or "PERSISTENT" in text else "virtual"


class _Unsplittable(Exception):
    """A catalog value held a separator (or GROUP_CONCAT was cut): use the inspector."""


def _my_rows(text: str | bytes, count: int, fields: int) -> list[list[str]]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    rows = [r.split("\x1f") for r in text.split("\x1e")]
    if len(rows) != count or any(len(r) != fields for r in rows):
        raise _Unsplittable
    return rows


def usable(dialect: Any) -> str:
    """Why the reader cannot read this server ('' when it can)."""
    if not getattr(dialect, "is_mariadb", False):
        return "MySQL renders SHOW CREATE TABLE differently from information_schema"
    if dialect.server_version_info < (10, 2, 7):  # COLUMN_DEFAULT as SHOW CREATE has it
        return f"MariaDB {dialect.server_version_info} < 10.2.7"
    if dialect.paramstyle not in ("format", "pyformat"):
        return f"driver paramstyle {dialect.paramstyle!r}"
    if ReflectedState is None or not hasattr(dialect, "_tabledef_parser"):
        return "SQLAlchemy without MySQLDialect._tabledef_parser / ReflectedState"
    return ""


def read_mysql(
    conn: Connection, schemas: Sequence[str | None], case_sensitive_tables: bool
) -> tuple[SchemaShape, dict[str, tuple[int, int]]] | None:
    """MariaDB: four ``information_schema`` statements per schema, one row per table.

    The shape and the fingerprint's (rows, CRC sum) per catalog table; None when the reader
    cannot run here or a value cannot be split (the caller uses the inspector).
    """
    reason = usable(conn.dialect)
    if reason:
        step_aside("MariaDB", reason)
        return None
    return _read_mysql(conn, schemas, case_sensitive_tables)


def _read_mysql(
    conn: Connection, schemas: Sequence[str | None], case_sensitive_tables: bool
) -> tuple[SchemaShape, dict[str, tuple[int, int]]] | None:
    assert ReflectedState is not None
    dialect: Any = conn.dialect
    parser = dialect._tabledef_parser
    parsed: dict[str, _Parsed] = {}

    def column(definition: str) -> _Parsed:
        """Type text, default and labels of a column line, parsed as SHOW CREATE TABLE's."""
        found = parsed.get(definition)
        if found is None:
            state = ReflectedState()
            parser._parse_column("  `c` " + definition, state)
            spec = state.columns[-1] if state.columns else {"type": None, "default": None}
            type_text = compile_type(spec["type"], dialect) if spec["type"] is not None else ""
            default = spec.get("default")
            found = parsed[definition] = (
                type_text,
                None if default is None else str(default),
                labels_of(spec["type"]),
            )
        return found

    sums = {name: (0, 0) for name in ROW_CRC}
    tables: dict[TableKey, TableShape] = {}
    sequences: set[ObjectKey] = set()
    named = [s for s in schemas if s]
    present = (
        {r[0] for r in conn.exec_driver_sql(_MY_SCHEMATA, {"names": tuple(named)})}
        if named
        else set()
    )
    missing = {s for s in named if s not in present}
    try:
        for schema in schemas:
            if schema in missing:
                continue
            database = schema or dialect.default_schema_name
            tables.update(_my_schema(conn, schema, database, column, sums, sequences))
    except _Unsplittable:
        logger.debug("schemaguard: a catalog value holds the reader's separators; inspector")
        return None
    shape = SchemaShape(
        dialect=dialect.name,
        tables=tables,
        schemas=tuple(schemas),
        case_sensitive_tables=case_sensitive_tables,
        sequences=frozenset(sequences),
        missing_schemas=frozenset(missing),
    )
    return shape, sums


_Parsed = tuple[str, str | None, tuple[str, ...] | None]


def _my_schema(
    conn: Connection,
    schema: str | None,
    database: str,
    column: Callable[[str], _Parsed],
    sums: dict[str, tuple[int, int]],
    sequences: set[ObjectKey],
) -> dict[TableKey, TableShape]:
    params = {"schema": database}

    def add(catalog: str, rows: int, crc: Any) -> None:
        n, total = sums[catalog]
        sums[catalog] = (n + int(rows), total + int(crc or 0))

    collations: dict[str, str] = {}
    listed = conn.exec_driver_sql(_MY_TABLES, params).fetchall()
    for table, table_type, collation, crc in listed:
        add("TABLES", 1, crc)
        if table_type == "BASE TABLE":
            collations[table] = collation
        elif table_type == "SEQUENCE":
            sequences.add((schema, table))
    if not listed:
        return {}  # nothing in the schema: no columns, keys or indexes either

    columns: dict[str, list[ColumnShape]] = {}
    for table, count, crc, packed in conn.exec_driver_sql(_MY_COLUMNS, params).fetchall():
        add("COLUMNS", count, crc)
        if table not in collations:
            continue  # a view
        table_collation = collations[table]
        cols = columns[table] = []
        for name, type_, nullable, default, extra, charset, collation in _my_rows(packed, count, 7):
            definition = type_
            if collation and collation != table_collation:
                definition += f" CHARACTER SET {charset} COLLATE {collation}"
            if nullable == "NO":
                definition += " NOT NULL"
            if default != "NULL":
                definition += f" DEFAULT {default}"
                if extra.lower().startswith("on update "):
                    definition += " ON UPDATE " + extra[len("on update ") :]
            type_text, reflected_default, labels = column(definition)
            generated = _generated(extra)
            cols.append(
                ColumnShape(
                    name,
                    type_text,
                    nullable != "NO",
                    None if generated else reflected_default,
                    labels=labels,
                    generated=generated,
                )
            )

    pks: dict[str, tuple[str, ...]] = {}
    indexes: dict[str, list[IndexShape]] = defaultdict(list)
    uniques: dict[str, list[IndexShape]] = defaultdict(list)
    for table, count, crc, packed in conn.exec_driver_sql(_MY_INDEXES, params).fetchall():
        add("STATISTICS", count, crc)
        keys: dict[str, tuple[bool, list[str]]] = {}
        for index, non_unique, col in _my_rows(packed, count, 3):
            index_entry = keys.get(index)
            if index_entry is None:
                index_entry = keys[index] = (non_unique == "0", [])
            index_entry[1].append(col)
        for index, (unique, index_cols) in keys.items():
            if index == "PRIMARY":
                pks[table] = tuple(index_cols)
                continue
            indexes[table].append(IndexShape(index, tuple(index_cols), unique))
            if unique:
                uniques[table].append(IndexShape(index, tuple(index_cols), True))

    actions: dict[tuple[str, str], dict[str, Any]] = {}
    for table, count, crc, packed in conn.exec_driver_sql(_MY_ACTIONS, params).fetchall():
        add("REFERENTIAL_CONSTRAINTS", count, crc)
        for name, on_delete, on_update in _my_rows(packed, count, 3):
            actions[(table, name)] = fk_options(_action(on_delete), _action(on_update), None, None)

    fks: dict[str, list[ForeignKeyShape]] = defaultdict(list)
    for table, count, crc, fk_count, packed in conn.exec_driver_sql(
        _MY_FOREIGN_KEYS, params
    ).fetchall():
        add("KEY_COLUMN_USAGE", count, crc)
        if not fk_count:
            continue
        grouped: dict[str, tuple[str, str, list[str], list[str]]] = {}
        for name, local, ref_schema, ref_table, remote in _my_rows(packed, fk_count, 5):
            fk_entry = grouped.get(name)
            if fk_entry is None:
                fk_entry = grouped[name] = (ref_schema, ref_table, [], [])
            fk_entry[2].append(local)
            fk_entry[3].append(remote)
        for name, (ref_schema, ref_table, local_cols, remote_cols) in sorted(grouped.items()):
            # SHOW CREATE TABLE qualifies a table in another database only
            referred_schema = ref_schema if ref_schema != database else schema
            options = actions.get((table, name)) or fk_options(None, None, None, None)
            fks[table].append(
                ForeignKeyShape(
                    name,
                    tuple(local_cols),
                    referred_schema,
                    ref_table,
                    tuple(remote_cols),
                    **options,
                )
            )

    out: dict[TableKey, TableShape] = {}
    for table, cols in columns.items():
        out[(schema, table)] = table_shape(
            schema,
            table,
            cols,
            pks.get(table, ()),
            indexes.get(table, ()),
            sorted(uniques.get(table, ()), key=by_name),
            fks.get(table, ()),
        )
    return out

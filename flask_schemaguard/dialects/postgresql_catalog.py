"""PostgreSQL's bulk catalog reader: ``pg_catalog`` in 4 statements per schema (a 5th for
foreign keys into tables of other schemas, plus the enum list the inspector path also reads);
key columns named from the columns already read. Types are turned into text by SQLAlchemy's
own ``_reflect_type``, so the result equals ``Inspector.get_multi_*``'s."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..shape import ColumnShape, ForeignKeyShape, IndexShape, SchemaShape, TableKey, TableShape
from .catalog import table_shape
from .types import compile_type

logger = logging.getLogger("flask_schemaguard")

# SQLAlchemy internals this reader uses, in one place. ``_NamedTypeLoader`` and the
# ``_reflect_type(format_type, loader, ...)`` signature exist from SQLAlchemy 2.1: on 2.0 the
# reader steps aside and the inspector reads the schema.
try:
    from sqlalchemy.dialects.postgresql.base import DOMAIN, _NamedTypeLoader
except ImportError:  # depends on the SQLAlchemy version
    DOMAIN = None  # type: ignore[assignment, misc]
    _NamedTypeLoader = None  # type: ignore[assignment, misc]


def unavailable_internals(dialect: Any) -> str:
    """The SQLAlchemy internals the reader needs that this version lacks ('' when none)."""
    missing = []
    if _NamedTypeLoader is None or DOMAIN is None:
        missing.append("sqlalchemy.dialects.postgresql.base._NamedTypeLoader")
    for name in ("_reflect_type", "_load_enums"):
        if not hasattr(dialect, name):
            missing.append(f"PGDialect.{name}")
    return ", ".join(missing)


# Tables as ``Inspector.get_table_names`` lists them: ordinary and partitioned, not temporary;
# no schema means every visible table outside pg_catalog (visible ones are on the search path).
_PG_TABLES = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND {where}
"""
_PG_DEFAULT_SCHEMA = (
    "n.nspname = ANY(current_schemas(false)) AND n.nspname <> 'pg_catalog' "
    "AND pg_table_is_visible(c.oid)"
)
_PG_NAMED_SCHEMA = "n.nspname = :schema"

_PG_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attgenerated, co.collname,
       CASE WHEN co.oid IS NOT NULL AND NOT pg_collation_is_visible(co.oid)
            THEN (SELECT nspname FROM pg_namespace WHERE oid = co.collnamespace) END
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON a.atthasdef AND d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON a.attcollation <> 0 AND a.attcollation <> t.typcollation
       AND co.oid = a.attcollation
 WHERE a.attrelid = ANY(CAST(:oids AS oid[])) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
"""

# Primary keys, unique constraints and foreign keys: column numbers (named from the columns
# already read; no join with pg_attribute); for a foreign key, the referred table's name and
# its schema as pg_get_constraintdef would qualify it (only when not visible).
_PG_CONSTRAINTS = """
SELECT con.conrelid, con.contype, con.conname, con.conkey, con.confrelid, con.confkey,
       rc.relname, rn.nspname, pg_table_is_visible(rc.oid)
  FROM pg_constraint con
  LEFT JOIN pg_class rc ON con.contype = 'f' AND rc.oid = con.confrelid
  LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
 WHERE con.conrelid = ANY(CAST(:oids AS oid[])) AND con.contype IN ('p', 'u', 'f')
 ORDER BY con.conrelid, con.conname
"""

# Every index but the primary key's: key column numbers, and for an index on expressions
# each key element as pg_get_indexdef renders it.
_PG_INDEXES = """
SELECT i.indrelid, ic.relname, i.indisunique, i.indnkeyatts, CAST(i.indkey AS int2[]),
       i.indisvalid,
       CASE WHEN 0 = ANY(CAST(i.indkey AS int2[])) THEN ARRAY(
         SELECT pg_get_indexdef(i.indexrelid, k, true)
           FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) END
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE i.indrelid = ANY(CAST(:oids AS oid[])) AND NOT i.indisprimary
"""

# Column names of tables outside the reflected ones (a foreign key into another schema).
_PG_OTHER_COLUMNS = """
SELECT attrelid, attnum, attname FROM pg_attribute
 WHERE attrelid = ANY(CAST(:oids AS oid[])) AND attnum > 0
"""

_PG_NEXTVAL = re.compile(r"""(nextval\(')([^']+)('.*$)""")

_PgTypeKey = tuple[str | None, str | None, str | None]


def read_postgresql(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape | None:
    """Four catalog statements per schema (plus the enum list); None when this server or
    SQLAlchemy lacks what the reader needs (the caller uses the inspector)."""
    dialect: Any = conn.dialect
    missing = unavailable_internals(dialect)
    if missing or dialect.server_version_info < (12,):
        logger.debug(
            "schemaguard: PostgreSQL catalog reader unavailable (%s); using the inspector",
            missing or f"server {dialect.server_version_info} < 12",
        )
        return None
    assert _NamedTypeLoader is not None and DOMAIN is not None
    loader = _NamedTypeLoader(dialect, conn, {})
    type_objects: dict[_PgTypeKey, tuple[Any, str]] = {}

    def type_of(key: _PgTypeKey) -> tuple[Any, str]:
        found = type_objects.get(key)
        if found is None:
            format_type, collation, collation_schema = key
            type_ = dialect._reflect_type(
                format_type,
                loader,
                type_description="column",
                collation=collation,
                collation_schema=collation_schema,
            )
            found = type_objects[key] = (type_, compile_type(type_, dialect))
        return found

    tables: dict[TableKey, TableShape] = {}
    for schema in schemas:
        tables.update(_pg_schema(conn, schema, type_of, DOMAIN))
    enums: set[tuple[str | None, str]] = set()
    for schema in dict.fromkeys((None, *schemas)):
        enums.update((schema, e["name"]) for e in dialect._load_enums(conn, schema=schema))
    return SchemaShape(
        dialect=dialect.name, tables=tables, schemas=tuple(schemas), enums=frozenset(enums)
    )


def _pg_schema(
    conn: Connection,
    schema: str | None,
    type_of: Callable[[_PgTypeKey], tuple[Any, str]],
    domain_class: type[Any],
) -> dict[TableKey, TableShape]:
    where = _PG_DEFAULT_SCHEMA if schema is None else _PG_NAMED_SCHEMA
    names: dict[int, str] = dict(
        conn.execute(sa.text(_PG_TABLES.format(where=where)), {"schema": schema}).fetchall()
    )
    if not names:
        return {}
    params = {"oids": "{" + ",".join(map(str, names)) + "}"}

    columns: dict[int, list[ColumnShape]] = defaultdict(list)
    attnames: dict[int, dict[int, str]] = defaultdict(dict)
    for (
        oid,
        num,
        name,
        format_type,
        not_null,
        default,
        generated,
        collation,
        coll_schema,
    ) in conn.execute(sa.text(_PG_COLUMNS), params).fetchall():
        attnames[oid][num] = name
        type_, type_text = type_of((format_type, collation, coll_schema))
        nullable = not not_null
        if isinstance(type_, domain_class):
            if not default and type_.default is not None:
                default = type_.default
            nullable = nullable and not type_.not_null
        if generated not in (None, "", b"\x00"):
            default = None
        elif default is not None and schema is not None:
            match = _PG_NEXTVAL.search(default)
            if match is not None and "." not in match.group(2):
                default = match.group(1) + f'"{schema}".' + match.group(2) + match.group(3)
        columns[oid].append(
            ColumnShape(name, type_text, nullable, None if default is None else str(default))
        )

    constraints = conn.execute(sa.text(_PG_CONSTRAINTS), params).fetchall()
    others = {r[4] for r in constraints if r[1] == "f" and r[4] not in attnames}
    if others:  # foreign keys into tables not reflected here: their column names
        for oid, num, name in conn.execute(
            sa.text(_PG_OTHER_COLUMNS), {"oids": "{" + ",".join(map(str, others)) + "}"}
        ).fetchall():
            attnames[oid][num] = name

    pks: dict[int, tuple[str, ...]] = {}
    uniques: dict[int, list[IndexShape]] = defaultdict(list)
    fks: dict[int, list[ForeignKeyShape]] = defaultdict(list)
    for (
        oid,
        contype,
        conname,
        conkey,
        ref_oid,
        confkey,
        referred,
        referred_nsp,
        visible,
    ) in constraints:
        local_names = attnames[oid]
        local = tuple(local_names[n] for n in conkey)
        if contype == "p":
            pks[oid] = local
        elif contype == "u":
            uniques[oid].append(IndexShape(conname, local, True))
        else:
            if not visible:
                referred_schema: str | None = referred_nsp
            elif schema is not None and schema == referred_nsp:
                referred_schema = schema
            else:
                referred_schema = None
            remote_names = attnames[ref_oid]
            remote = tuple(remote_names[n] for n in confkey)
            fks[oid].append(ForeignKeyShape(conname, local, referred_schema, referred, remote))

    indexes: dict[int, list[IndexShape]] = defaultdict(list)
    for oid, name, unique, nkeys, indkey, valid, expressions in conn.execute(
        sa.text(_PG_INDEXES), params
    ).fetchall():
        table_names = attnames[oid]
        keys = tuple(
            table_names[num] if num else str(expressions[i]) for i, num in enumerate(indkey[:nkeys])
        )
        indexes[oid].append(IndexShape(name, keys, bool(unique), bool(valid)))

    out: dict[TableKey, TableShape] = {}
    for oid, table in sorted(names.items(), key=lambda kv: kv[1]):
        out[(schema, table)] = table_shape(
            schema,
            table,
            columns.get(oid, ()),
            pks.get(oid, ()),
            indexes.get(oid, ()),
            uniques.get(oid, ()),
            fks.get(oid, ()),
        )
    return out

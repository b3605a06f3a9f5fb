"""PostgreSQL's bulk catalog reader: ``pg_catalog`` in 4 statements per schema (a 5th for
foreign keys into tables of other schemas, plus the enum list the inspector path also reads);
key columns named from the columns already read. Types are turned into text by SQLAlchemy's
own ``_reflect_type``, so the result equals ``Inspector.get_multi_*``'s."""

from __future__ import annotations

import inspect
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..shape import (
    ColumnShape,
    EnumTypes,
    ForeignKeyShape,
    IndexShape,
    ObjectKey,
    SchemaShape,
    TableKey,
    TableShape,
)
from .catalog import step_aside, table_shape
from .inspector import fk_options
from .types import compile_type, labels_of

_PgTypeKey = tuple[str | None, str | None, str | None]

# SQLAlchemy internals this reader uses, in one place. ``PGDialect._reflect_type`` turns a
# catalog type string into a type: from SQLAlchemy 2.1 it takes a ``_NamedTypeLoader`` (and the
# collation); on 2.0 the domains and enums loaded beforehand, as ``get_multi_columns`` does.
try:
    from sqlalchemy.dialects.postgresql.base import DOMAIN
except ImportError:  # depends on the SQLAlchemy version
    DOMAIN = None  # type: ignore[assignment, misc]
try:
    from sqlalchemy.dialects.postgresql.base import _NamedTypeLoader
except ImportError:  # SQLAlchemy 2.0
    _NamedTypeLoader = None  # type: ignore[assignment, misc]


def unavailable_internals(dialect: Any) -> str:
    """The SQLAlchemy internals the reader needs that this version lacks ('' when none)."""
    needed = ["_reflect_type", "_load_enums"]
    if _NamedTypeLoader is None:
        needed.append("_load_domains")
    missing = [f"PGDialect.{name}" for name in needed if not hasattr(dialect, name)]
    if DOMAIN is None:
        missing.append("sqlalchemy.dialects.postgresql.base.DOMAIN")
    return ", ".join(missing)


def _type_reader(dialect: Any, conn: Connection) -> Callable[[_PgTypeKey], Any]:
    """``(format_type, collation, collation schema)`` -> the type the inspector reflects."""
    if _NamedTypeLoader is not None:  # SQLAlchemy 2.1
        loader = _NamedTypeLoader(dialect, conn, {})

        def reflect_21(key: _PgTypeKey) -> Any:
            format_type, collation, collation_schema = key
            return dialect._reflect_type(
                format_type,
                loader,
                type_description="column",
                collation=collation,
                collation_schema=collation_schema,
            )

        return reflect_21
    # SQLAlchemy 2.0: the domains and enums of every schema, keyed as get_multi_columns keys them
    domains = {
        ((d["schema"], d["name"]) if not d["visible"] else (d["name"],)): d
        for d in dialect._load_domains(conn, schema="*")
    }
    enums = {
        ((e["name"],) if e["visible"] else (e["schema"], e["name"])): e
        for e in dialect._load_enums(conn, schema="*")
    }
    # 2.0.45 added a required ``collation`` argument (2.0.29-2.0.44 have none)
    takes_collation = "collation" in inspect.signature(dialect._reflect_type).parameters

    def reflect_20(key: _PgTypeKey) -> Any:
        if takes_collation:
            return dialect._reflect_type(key[0], domains, enums, "column", key[1])
        return dialect._reflect_type(key[0], domains, enums, type_description="column")

    return reflect_20


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
       rc.relname, rn.nspname, pg_table_is_visible(rc.oid),
       con.confdeltype, con.confupdtype, con.condeferrable, con.condeferred
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

# Sequences as ``Inspector.get_sequence_names`` lists them, for every schema in one statement
# (the default schema: the visible ones of the search path).
_PG_SEQUENCES = """
SELECT n.nspname, c.relname, n.nspname = ANY(CAST(:names AS text[]))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND (n.nspname = ANY(CAST(:names AS text[])) OR (:with_default
       AND n.nspname = ANY(current_schemas(false)) AND pg_table_is_visible(c.oid)))
"""
_PG_SCHEMAS = "SELECT nspname FROM pg_namespace WHERE nspname = ANY(CAST(:names AS text[]))"
#: pg_constraint's action codes, as the model side spells them (None: NO ACTION).
_PG_ACTIONS = {"a": None, "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}

_PG_NEXTVAL = re.compile(r"""(nextval\(')([^']+)('.*$)""")


#: A catalog type: SQLAlchemy's type object, its DDL text, its enum labels (None: not an enum).
_PgType = tuple[Any, str, tuple[str, ...] | None]


def read_postgresql(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape | None:
    """Four catalog statements per schema (plus the enum list); None when this server or
    SQLAlchemy lacks what the reader needs (the caller uses the inspector)."""
    dialect: Any = conn.dialect
    missing = unavailable_internals(dialect)
    if missing or dialect.server_version_info < (12,):
        step_aside("PostgreSQL", missing or f"server {dialect.server_version_info} < 12")
        return None
    assert DOMAIN is not None
    reflect_type = _type_reader(dialect, conn)
    type_objects: dict[_PgTypeKey, _PgType] = {}

    def type_of(key: _PgTypeKey) -> _PgType:
        found = type_objects.get(key)
        if found is None:
            type_ = reflect_type(key)
            found = type_objects[key] = (type_, compile_type(type_, dialect), labels_of(type_))
        return found

    tables: dict[TableKey, TableShape] = {}
    absent = _missing_schemas(conn, schemas)
    sequences: set[ObjectKey] = set()
    for schema in schemas:
        if schema not in absent:
            tables.update(_pg_schema(conn, schema, type_of, DOMAIN))
    named = [s for s in schemas if s]
    with_default = None in schemas
    rows = conn.execute(sa.text(_PG_SEQUENCES), {"names": named, "with_default": with_default})
    for nspname, name, is_named in rows:
        if is_named:
            sequences.add((nspname, name))
        if with_default and (not is_named or nspname not in named):
            sequences.add((None, name))
    enums: dict[ObjectKey, tuple[str, ...]] = {}
    for schema in dict.fromkeys((None, *schemas)):
        if schema in absent:
            continue
        enums.update(
            ((schema, e["name"]), tuple(e["labels"]))
            for e in dialect._load_enums(conn, schema=schema)
        )
    return SchemaShape(
        dialect=dialect.name,
        tables=tables,
        schemas=tuple(schemas),
        enums=EnumTypes(enums),
        sequences=frozenset(sequences),
        missing_schemas=frozenset(absent),
    )


def _missing_schemas(conn: Connection, schemas: Sequence[str | None]) -> set[str]:
    named = [s for s in schemas if s]
    if not named:
        return set()
    found = {r[0] for r in conn.execute(sa.text(_PG_SCHEMAS), {"names": named})}
    return set(named) - found


def _pg_schema(
    conn: Connection,
    schema: str | None,
    type_of: Callable[[_PgTypeKey], _PgType],
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
        type_, type_text, labels = type_of((format_type, collation, coll_schema))
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
            ColumnShape(
                name,
                type_text,
                nullable,
                None if default is None else str(default),
                labels=labels,
                generated="stored" if generated == "s" else None,
            )
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
        on_delete,
        on_update,
        deferrable,
        deferred,
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
            options = fk_options(
                _PG_ACTIONS.get(on_delete),
                _PG_ACTIONS.get(on_update),
                deferrable,
                deferred and "deferred",
            )
            fks[oid].append(
                ForeignKeyShape(conname, local, referred_schema, referred, remote, **options)
            )

    indexes: dict[int, list[IndexShape]] = defaultdict(list)
    for oid, name, unique, nkeys, indkey, valid, expressions in conn.execute(
        sa.text(_PG_INDEXES), params
    ).fetchall():
        table_names = attnames[oid]
        keys = tuple(
            table_names[num] if num else str(expressions[i]) for i, num in enumerate(indkey[:nkeys])
        )
        expression = any(not num for num in indkey[:nkeys])
        indexes[oid].append(IndexShape(name, keys, bool(unique), expression, bool(valid)))

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

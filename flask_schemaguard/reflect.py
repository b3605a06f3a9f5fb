"""Read the live schema of one database into plain shapes.

``reflect`` picks the fastest reader for the dialect (``fastreflect``: a handful of catalog
queries) and falls back to SQLAlchemy's bulk ``Inspector.get_multi_*`` API, which
``reflect_with_inspector`` uses directly and which the tests use as the reference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .modelshape import compile_type
from .shape import ColumnShape, ForeignKeyShape, IndexShape, SchemaShape, TableKey, TableShape


def reflect(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
    """Reflect every table of the given schemas (None: the connection's default schema)."""
    from . import fastreflect

    reader = fastreflect.READERS.get(conn.dialect.name)
    if reader is not None:
        shape = reader(conn, schemas)
        sensitive = table_names_case_sensitive(conn)
        if sensitive != shape.case_sensitive_tables:
            shape = dataclasses.replace(shape, case_sensitive_tables=sensitive)
        return shape
    return reflect_with_inspector(conn, schemas)


def table_names_case_sensitive(conn: Connection) -> bool:
    """MySQL/MariaDB with ``lower_case_table_names=0``: ``Accounts`` is not ``accounts``."""
    # The MySQL dialect reads the setting when it first connects.
    return conn.dialect.name == "mysql" and getattr(conn.dialect, "_casing", 0) == 0


def reflect_with_inspector(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
    """Reflect through SQLAlchemy's ``Inspector.get_multi_*`` (bulk where the dialect has it)."""
    dialect = conn.dialect
    inspector = sa.inspect(conn)
    tables: dict[TableKey, TableShape] = {}
    enums: set[tuple[str | None, str]] = set()
    for schema in schemas:
        names = inspector.get_table_names(schema=schema)
        if not names:
            continue
        columns = inspector.get_multi_columns(schema=schema)
        pks = inspector.get_multi_pk_constraint(schema=schema)
        indexes = inspector.get_multi_indexes(schema=schema)
        uniques = inspector.get_multi_unique_constraints(schema=schema)
        fks = inspector.get_multi_foreign_keys(schema=schema)
        for name in names:
            key = (schema, name)
            tables[key] = TableShape(
                schema=schema,
                name=name,
                columns=tuple(
                    ColumnShape(
                        name=c["name"],
                        type_text=compile_type(c["type"], dialect),
                        nullable=bool(c["nullable"]),
                        default=_text(c.get("default")),
                    )
                    for c in columns.get(key, [])
                ),
                primary_key=_pk_columns(pks.get(key)),
                indexes=tuple(
                    sorted(
                        (_index(ix) for ix in indexes.get(key, [])),
                        key=lambda i: i.name or "",
                    )
                ),
                uniques=tuple(
                    sorted(
                        (
                            IndexShape(u.get("name"), tuple(u["column_names"]), True)
                            for u in uniques.get(key, [])
                        ),
                        key=lambda u: u.columns,
                    )
                ),
                foreign_keys=tuple(
                    sorted(
                        (_fk(fk, schema) for fk in fks.get(key, [])),
                        key=lambda f: f.columns,
                    )
                ),
            )
    if dialect.name == "postgresql":
        # Also schemas without tables yet, and the default one: an enum of a table in another
        # schema may live there, and CREATE TYPE must not run for a type that exists.
        get_enums = getattr(inspector, "get_enums")  # noqa: B009 - PostgreSQL inspector only
        for schema in dict.fromkeys((None, *schemas)):
            enums.update((schema, e["name"]) for e in get_enums(schema=schema))
    return SchemaShape(
        dialect=dialect.name,
        tables=tables,
        schemas=tuple(schemas),
        enums=frozenset(enums),
        case_sensitive_tables=table_names_case_sensitive(conn),
    )


def _pk_columns(pk: Any) -> tuple[str, ...]:
    return tuple((pk or {}).get("constrained_columns") or ())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _index(ix: Any) -> IndexShape:
    names = list(ix.get("column_names") or [])
    expressions = ix.get("expressions") or []
    columns = tuple(
        n if n is not None else str(expressions[i] if i < len(expressions) else "?")
        for i, n in enumerate(names)
    )
    return IndexShape(ix.get("name"), columns, bool(ix.get("unique")))


def _fk(fk: Any, schema: str | None) -> ForeignKeyShape:
    return ForeignKeyShape(
        name=fk.get("name"),
        columns=tuple(fk["constrained_columns"]),
        referred_schema=fk.get("referred_schema"),
        referred_table=fk["referred_table"],
        referred_columns=tuple(fk["referred_columns"]),
    )

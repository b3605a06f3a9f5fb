"""The generic catalog reader: SQLAlchemy's bulk ``Inspector.get_multi_*`` API.

Every dialect without a faster reader of its own uses it, and each fast reader falls back to
it when it cannot run (an old server, a SQLAlchemy without the internals it needs); the tests
use it as the reference the fast readers must equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..shape import ColumnShape, ForeignKeyShape, IndexShape, SchemaShape, TableKey, TableShape
from .types import compile_type


def reflect_with_inspector(
    conn: Connection, schemas: Sequence[str | None], *, case_sensitive_tables: bool = False
) -> SchemaShape:
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
    get_enums = getattr(inspector, "get_enums", None)  # databases with named enum types
    if get_enums is not None:
        # Also schemas without tables yet, and the default one: an enum of a table in another
        # schema may live there, and CREATE TYPE must not run for a type that exists.
        for schema in dict.fromkeys((None, *schemas)):
            enums.update((schema, e["name"]) for e in get_enums(schema=schema))
    return SchemaShape(
        dialect=dialect.name,
        tables=tables,
        schemas=tuple(schemas),
        enums=frozenset(enums),
        case_sensitive_tables=case_sensitive_tables,
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

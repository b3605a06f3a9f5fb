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
from .types import compile_type, labels_of


def reflect_with_inspector(
    conn: Connection, schemas: Sequence[str | None], *, case_sensitive_tables: bool = False
) -> SchemaShape:
    """Reflect through SQLAlchemy's ``Inspector.get_multi_*`` (bulk where the dialect has it)."""
    dialect = conn.dialect
    inspector = sa.inspect(conn)
    tables: dict[TableKey, TableShape] = {}
    missing = missing_schemas(inspector, schemas)
    sequences: set[ObjectKey] = set()
    for schema in schemas:
        if schema in missing:
            continue
        if dialect.supports_sequences:
            sequences.update((schema, n) for n in inspector.get_sequence_names(schema=schema))
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
                columns=tuple(_column(c, dialect) for c in columns.get(key, [])),
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
                        (_fk(fk, dialect) for fk in fks.get(key, [])),
                        key=lambda f: f.columns,
                    )
                ),
            )
    enums: dict[ObjectKey, tuple[str, ...]] = {}
    get_enums = getattr(inspector, "get_enums", None)  # databases with named enum types
    if get_enums is not None:
        # Also schemas without tables yet, and the default one: an enum of a table in another
        # schema may live there, and CREATE TYPE must not run for a type that exists.
        for schema in dict.fromkeys((None, *schemas)):
            if schema in missing:
                continue
            enums.update(
                ((schema, e["name"]), tuple(e["labels"])) for e in get_enums(schema=schema)
            )
    return SchemaShape(
        dialect=dialect.name,
        tables=tables,
        schemas=tuple(schemas),
        enums=EnumTypes(enums),
        case_sensitive_tables=case_sensitive_tables,
        sequences=frozenset(sequences),
        missing_schemas=frozenset(missing),
    )


def missing_schemas(inspector: Any, schemas: Sequence[str | None]) -> set[str]:
    """The named schemas among ``schemas`` that the database does not have."""
    named = [s for s in schemas if s]
    if not named:
        return set()
    present = {s.lower() for s in inspector.get_schema_names()}
    return {s for s in named if s.lower() not in present}


def _column(c: Any, dialect: Any) -> ColumnShape:
    computed = c.get("computed")
    generated = None
    if computed is not None:
        generated = "stored" if computed.get("persisted") else "virtual"
    return ColumnShape(
        name=c["name"],
        type_text=compile_type(c["type"], dialect),
        nullable=bool(c["nullable"]),
        default=None if generated else _text(c.get("default")),
        labels=labels_of(c["type"]),
        generated=generated,
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
    return IndexShape(ix.get("name"), columns, bool(ix.get("unique")), None in names)


def fk_options(ondelete: Any, onupdate: Any, deferrable: Any, initially: Any) -> dict[str, Any]:
    """Actions and deferrability normalised as the model side has them."""
    from_text = {"ondelete": ondelete, "onupdate": onupdate}
    out: dict[str, Any] = {}
    for key, value in from_text.items():
        text = " ".join(str(value).lower().split()) if value else None
        out[key] = None if text in (None, "no action") else text
    if initially and str(initially).lower() == "deferred":
        out["deferrable"] = "initially deferred"
    else:
        out["deferrable"] = "deferrable" if deferrable else "not deferrable"
    return out


def _fk(fk: Any, dialect: Any) -> ForeignKeyShape:
    options = fk.get("options") or {}
    actions = fk_options(
        options.get("ondelete"),
        options.get("onupdate"),
        options.get("deferrable"),
        options.get("initially"),
    )
    return ForeignKeyShape(
        name=fk.get("name"),
        columns=tuple(fk["constrained_columns"]),
        referred_schema=fk.get("referred_schema"),
        referred_table=fk["referred_table"],
        referred_columns=tuple(fk["referred_columns"]),
        **actions,
    )

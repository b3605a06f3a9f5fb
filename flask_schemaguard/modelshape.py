"""Turn model ``Table`` objects into plain shapes for one dialect (pure, no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from .shape import ColumnShape, ForeignKeyShape, IndexShape, SchemaShape, TableShape


def compile_type(type_: sa.types.TypeEngine[object], dialect: Dialect) -> str:
    """DDL text of a type for a dialect; empty when it cannot be rendered."""
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # NullType and exotic user types have no DDL form
        return ""


def server_default_text(column: sa.Column[object], dialect: Dialect) -> str | None:
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if arg is None:
        return "<computed>"
    if isinstance(arg, str):
        return arg
    try:
        return str(arg.compile(dialect=dialect))
    except Exception:
        return str(arg)


def _index_columns(index: sa.Index, dialect: Dialect) -> tuple[str, ...]:
    names: list[str] = []
    for expr in index.expressions:
        if isinstance(expr, sa.Column):
            names.append(expr.name)
        elif isinstance(expr, str):
            names.append(expr)
        else:
            try:
                names.append(str(expr.compile(dialect=dialect)))
            except Exception:
                names.append(str(expr))
    return tuple(names)


def _fk_shape(fk: sa.ForeignKeyConstraint) -> ForeignKeyShape:
    referred_columns: list[str] = []
    referred_table = ""
    referred_schema: str | None = None
    for element in fk.elements:
        # "schema.table.column" or "table.column", resolvable without the target table
        parts = element.target_fullname.split(".")
        referred_columns.append(parts[-1])
        referred_table = parts[-2]
        referred_schema = ".".join(parts[:-2]) or None
    return ForeignKeyShape(
        name=str(fk.name) if fk.name else None,
        columns=tuple(c.name for c in fk.columns),
        referred_schema=referred_schema,
        referred_table=referred_table,
        referred_columns=tuple(referred_columns),
    )


def table_shape(table: sa.Table, dialect: Dialect) -> TableShape:
    pk = tuple(c.name for c in table.primary_key.columns)
    columns = tuple(
        ColumnShape(
            name=c.name,
            type_text=compile_type(c.type, dialect),
            nullable=bool(c.nullable) and c.name not in pk,
            default=server_default_text(c, dialect),
        )
        for c in table.columns
    )
    indexes = tuple(
        IndexShape(
            name=str(ix.name) if ix.name else None,
            columns=_index_columns(ix, dialect),
            unique=bool(ix.unique),
        )
        for ix in sorted(table.indexes, key=lambda i: str(i.name or ""))
    )
    uniques = tuple(
        IndexShape(
            name=str(uc.name) if uc.name else None,
            columns=tuple(c.name for c in uc.columns),
            unique=True,
        )
        for uc in table.constraints
        if isinstance(uc, sa.UniqueConstraint)
    )
    fks = tuple(
        _fk_shape(fk) for fk in table.constraints if isinstance(fk, sa.ForeignKeyConstraint)
    )
    return TableShape(
        schema=table.schema,
        name=table.name,
        columns=columns,
        primary_key=pk,
        indexes=indexes,
        uniques=tuple(sorted(uniques, key=lambda u: u.columns)),
        foreign_keys=tuple(sorted(fks, key=lambda f: f.columns)),
    )


def model_shape(tables: Iterable[sa.Table], dialect: Dialect) -> SchemaShape:
    shapes = {(t.schema, t.name): table_shape(t, dialect) for t in tables}
    schemas = tuple(sorted({k[0] for k in shapes}, key=lambda s: s or "")) or (None,)
    return SchemaShape(dialect=dialect.name, tables=shapes, schemas=schemas)


def shape_hash(shape: SchemaShape, extra: str = "") -> str:
    """A stable hash of a model shape (and settings that change what a check finds)."""
    digest = hashlib.sha256()
    digest.update(shape.dialect.encode())
    digest.update(extra.encode())
    for key in sorted(shape.tables, key=lambda k: (k[0] or "", k[1])):
        digest.update(repr(shape.tables[key]).encode())
    return digest.hexdigest()[:32]

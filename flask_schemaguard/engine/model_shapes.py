"""Turn model ``Table`` objects into plain shapes for one dialect (pure, no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from ..dialects.types import compile_type, text_cache
from ..shape import ColumnShape, ForeignKeyShape, IndexShape, SchemaShape, TableShape


def _default_key(arg: Any) -> Hashable | None:
    """Server defaults whose SQL depends only on this key: text, argument-less functions,
    true/false/null."""
    if isinstance(arg, sa.TextClause):
        return None if arg._bindparams else ("text", arg.text)
    if isinstance(arg, sa.sql.functions.FunctionElement):
        if len(arg.clauses) or type(arg).__module__.split(".")[0] != "sqlalchemy":
            return None
        return ("func", type(arg), getattr(arg, "name", None), tuple(arg.packagenames or ()))
    if isinstance(arg, (sa.sql.elements.True_, sa.sql.elements.False_, sa.sql.elements.Null)):
        return (type(arg),)
    return None


def server_default_text(column: sa.Column[object], dialect: Dialect) -> str | None:
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if arg is None:
        if isinstance(default, (sa.Computed, sa.Identity)):
            return "<computed>"
        return None  # FetchedValue(): a trigger fills it; ADD COLUMN has no value to give
    if isinstance(arg, str):
        return arg
    key = _default_key(arg)
    if key is None:
        return _compile_default(arg, dialect)
    cache = text_cache(dialect)
    text = cache.get(key)
    if text is None:
        text = cache[key] = _compile_default(arg, dialect)
    return text


def _compile_default(arg: Any, dialect: Dialect) -> str:
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
        digest.update(_table_text(shape.tables[key]).encode())
    return digest.hexdigest()[:32]


def _table_text(t: TableShape) -> str:
    """Every field of a table shape as text (plain tuples: faster than dataclass repr)."""
    return repr(
        (
            t.schema,
            t.name,
            tuple((c.name, c.type_text, c.nullable, c.default) for c in t.columns),
            t.primary_key,
            tuple((i.name, i.columns, i.unique) for i in t.indexes),
            tuple((u.name, u.columns, u.unique) for u in t.uniques),
            tuple(
                (f.name, f.columns, f.referred_schema, f.referred_table, f.referred_columns)
                for f in t.foreign_keys
            ),
        )
    )

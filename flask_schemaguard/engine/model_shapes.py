"""Turn model ``Table`` objects into plain shapes for one dialect (pure, no I/O)."""

from __future__ import annotations

import enum
import hashlib
import weakref
from collections.abc import Hashable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import SET
from sqlalchemy.engine import Dialect

from ..dialects.types import compile_type, labels_of, text_cache
from ..shape import (
    ColumnShape,
    ForeignKeyShape,
    IndexShape,
    ObjectKey,
    SchemaShape,
    TableShape,
)


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


def server_default_text(
    column: sa.Column[object], dialect: Dialect, cache: dict[Hashable, str] | None = None
) -> str | None:
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
    if cache is None:
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


def _index_columns(index: sa.Index, dialect: Dialect) -> tuple[tuple[str, ...], bool]:
    """The index's column names (expressions as SQL text), and whether it has expressions."""
    names: list[str] = []
    expression = False
    for expr in index.expressions:
        if isinstance(expr, sa.Column):
            names.append(expr.name)
        elif isinstance(expr, str):
            names.append(expr)
        else:
            expression = True
            try:
                names.append(str(expr.compile(dialect=dialect)))
            except Exception:
                names.append(str(expr))
    return tuple(names), expression


def created_on(item: Any, dialect: Dialect) -> bool:
    """False when ``create_all()`` leaves ``item`` out on this dialect (``.ddl_if()``)."""
    condition = getattr(item, "_ddl_if", None)
    if condition is None:
        return True
    wanted = condition.dialect
    if isinstance(wanted, str) and wanted != dialect.name:
        return False
    if isinstance(wanted, (tuple, list, set, frozenset)) and dialect.name not in wanted:
        return False
    if condition.callable_ is None:
        return True
    try:
        return bool(
            condition.callable_(
                None,
                item,
                None,
                state=condition.state,
                dialect=dialect,
                compiler=None,
                checkfirst=False,
            )
        )
    except Exception:  # a condition that needs a connection: assume it holds
        return True


def rendered_name(name: Any, dialect: Dialect, *, index: bool) -> str | None:
    """An index or constraint name exactly as ``create_all()`` writes it: a generated name
    (naming convention) over the dialect's limit is cut and suffixed as SQLAlchemy does."""
    if name is None or isinstance(name, enum.Enum):  # SQLAlchemy's _NONE_NAME marker
        return None
    text = str(name)
    limit = (
        dialect.max_index_name_length if index else dialect.max_constraint_name_length
    ) or dialect.max_identifier_length
    if isinstance(name, sa.sql.elements._truncated_label) and len(text) > limit:
        text = text[0 : limit - 8] + "_" + sa.util.md5_hex(text)[-4:]
    return text


def _action(value: str | None) -> str | None:
    text = " ".join(value.lower().split()) if value else None
    return None if text in (None, "no action") else text


def deferrability(deferrable: bool | None, initially: str | None) -> str:
    """Deferrable and initially as one of three states (as Alembic compares them)."""
    if initially and initially.lower() == "deferred":
        return "initially deferred"
    return "deferrable" if deferrable else "not deferrable"


def _fk_shape(fk: sa.ForeignKeyConstraint, dialect: Dialect) -> ForeignKeyShape:
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
        name=rendered_name(fk.name, dialect, index=False),
        columns=tuple(c.name for c in fk.columns),
        referred_schema=referred_schema,
        referred_table=referred_table,
        referred_columns=tuple(referred_columns),
        ondelete=_action(fk.ondelete),
        onupdate=_action(fk.onupdate),
        deferrable=deferrability(fk.deferrable, fk.initially),
    )


#: The Python-side defaults of degraded columns: the ORM must not apply them while the database
#: lacks the column, so ``orm_degrade`` takes them off the ``Column``, but the models still
#: declare them (a check and a plan must see the column's sequence).
_held_defaults: weakref.WeakKeyDictionary[sa.Column[Any], Any] = weakref.WeakKeyDictionary()
#: Whether any default was ever held (until then a lookup needs no weak reference).
_holding = [False]


def hold_default(column: sa.Column[Any], default: Any) -> None:
    """``column``'s declared default while it is taken off the column (None: given back)."""
    if default is None:
        _held_defaults.pop(column, None)
    else:
        _holding[0] = True
        _held_defaults[column] = default


def declared_default(column: sa.Column[Any]) -> Any:
    """The default the model declares for ``column``, also while degrading holds it."""
    if not _holding[0]:  # nothing degraded yet: no weak reference to make for a lookup
        return column.default
    return _held_defaults.get(column, column.default)


def column_sequence(column: sa.Column[Any], dialect: Dialect) -> sa.Sequence | None:
    """The sequence ``create_all()`` creates for this column on this dialect, or None."""
    if not dialect.supports_sequences:
        return None
    default = declared_default(column)
    if not isinstance(default, sa.Sequence):
        return None
    if default.optional and dialect.sequences_optional:
        return None
    return default if created_on(default, dialect) else None


#: Types that may have labels (``labels_of``): SQLAlchemy's Enum and MySQL's SET.
_LABELLED = (sa.Enum, SET)


def _column_shape(
    c: sa.Column[Any], pk: tuple[str, ...], dialect: Dialect, texts: dict[Hashable, str]
) -> ColumnShape:
    sequence = column_sequence(c, dialect)
    computed = c.computed
    type_ = c.type
    return ColumnShape(
        c.name,
        compile_type(type_, dialect, texts),
        bool(c.nullable) and c.name not in pk,
        None if c.server_default is None else server_default_text(c, dialect, texts),
        labels_of(type_, dialect) if isinstance(type_, _LABELLED) else None,
        None if computed is None else ("stored" if computed.persisted else "virtual"),
        None if sequence is None else (sequence.schema, sequence.name),
    )


def table_shape(
    table: sa.Table, dialect: Dialect, texts: dict[Hashable, str] | None = None
) -> TableShape:
    """The model table as ``create_all()`` would create it on ``dialect``."""
    if texts is None:
        texts = text_cache(dialect)
    pk = tuple(c.name for c in table.primary_key.columns)
    columns = tuple(_column_shape(c, pk, dialect, texts) for c in table.columns)
    indexes = []
    for ix in sorted(table.indexes, key=lambda i: str(i.name or "")):
        if not created_on(ix, dialect):
            continue
        ix_columns, expression = _index_columns(ix, dialect)
        indexes.append(
            IndexShape(
                name=rendered_name(ix.name, dialect, index=True),
                columns=ix_columns,
                unique=bool(ix.unique),
                expression=expression,
            )
        )
    uniques = tuple(
        IndexShape(
            name=rendered_name(uc.name, dialect, index=False),
            columns=tuple(c.name for c in uc.columns),
            unique=True,
        )
        for uc in table.constraints
        if isinstance(uc, sa.UniqueConstraint) and created_on(uc, dialect)
    )
    fks = tuple(
        _fk_shape(fk, dialect)
        for fk in table.constraints
        if isinstance(fk, sa.ForeignKeyConstraint) and created_on(fk, dialect)
    )
    return TableShape(
        schema=table.schema,
        name=table.name,
        columns=columns,
        primary_key=pk,
        indexes=tuple(indexes),
        uniques=tuple(sorted(uniques, key=lambda u: u.columns)),
        foreign_keys=tuple(sorted(fks, key=lambda f: f.columns)),
    )


def model_shape(tables: Iterable[sa.Table], dialect: Dialect) -> SchemaShape:
    texts = text_cache(dialect)
    shapes = {(t.schema, t.name): table_shape(t, dialect, texts) for t in tables}
    sequences: set[ObjectKey] = {
        c.sequence for t in shapes.values() for c in t.columns if c.sequence is not None
    }
    names = {k[0] for k in shapes} | {s for s, _ in sequences}
    schemas = tuple(sorted(names, key=lambda s: s or "")) or (None,)
    return SchemaShape(
        dialect=dialect.name, tables=shapes, schemas=schemas, sequences=frozenset(sequences)
    )


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
            tuple(
                (c.name, c.type_text, c.nullable, c.default, c.labels, c.generated, c.sequence)
                for c in t.columns
            ),
            t.primary_key,
            tuple((i.name, i.columns, i.unique, i.expression) for i in t.indexes),
            tuple((u.name, u.columns, u.unique) for u in t.uniques),
            tuple(
                (
                    f.name,
                    f.columns,
                    f.referred_schema,
                    f.referred_table,
                    f.referred_columns,
                    f.ondelete,
                    f.onupdate,
                    f.deferrable,
                )
                for f in t.foreign_keys
            ),
        )
    )

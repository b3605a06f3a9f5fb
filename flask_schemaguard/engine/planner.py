"""Turn healable drift into ordered, additive DDL operations (pure, no I/O).

Order: by what each operation needs in the live database (``plan_order``): schemas,
sequences and enum labels first, new tables in foreign-key order, columns, then indexes (those
of the new tables first), except where an operation needs another one first (a new table
whose foreign key refers to a column this heal adds, or to a unique index it creates).
Nothing here can drop, rename or retype anything: the only statements produced are CREATE
SCHEMA, CREATE SEQUENCE, CREATE TABLE, ALTER TABLE ... ADD COLUMN, CREATE [UNIQUE] INDEX and,
on PostgreSQL, CREATE TYPE / ALTER TYPE ... ADD VALUE for a native enum and REINDEX INDEX for
an invalid index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import (
    CreateIndex,
    CreateSchema,
    CreateSequence,
)

from ..dialects import DialectImpl, impl_for
from ..report import Drift, DriftKind, Operation, OperationKind
from ..shape import TableKey
from . import plan_order as po
from .model_shapes import column_sequence, rendered_name
from .plan_tables import order_tables

ALL_OPERATIONS = frozenset(k.value for k in OperationKind)
#: What a heal may do unless ``SCHEMAGUARD_ALLOWED_OPERATIONS`` says otherwise: never
#: ``create_unique_index`` (it rejects writes the app makes today) nor ``create_schema``.
DEFAULT_OPERATIONS = (
    "create_table",
    "add_column",
    "create_index",
    "create_sequence",
    "add_enum_value",
    "rebuild_index",
)
REBUILD_HINT = (
    "this PostgreSQL (before 12) cannot rebuild an index concurrently: run DROP INDEX "
    "CONCURRENTLY on it, and the next heal creates it again"
)

REBUILD_HINT = (
    "this PostgreSQL (before 12) cannot rebuild an index concurrently: run DROP INDEX "
    "CONCURRENTLY on it, and the next heal creates it again"
)


@dataclass(frozen=True)
class Plan:
    operations: tuple[Operation, ...]
    skipped: tuple[Drift, ...]


def make_plan(
    items: Sequence[Drift],
    tables: Mapping[TableKey, sa.Table],
    dialect: Dialect,
    *,
    allowed: Collection[str] = ALL_OPERATIONS,
    existing_enums: Collection[tuple[str | None, str]] = (),
    bind: str | None = None,
) -> Plan:
    """Plan the operations that heal ``items`` (one bind's drift).

    An operation SQLAlchemy refuses to compile (say an ``ondelete`` that is not an SQL
    phrase) is not planned: its drift item is skipped with the compiler's reason. So is one
    that needs something in the database this heal does not create (say a new table whose
    foreign key refers to a unique index only ``create_unique_index`` would add).
    """
    impl = impl_for(dialect)
    keys = po.Keys(impl)
    by_key = {keys.table(k[0], k[1]): t for k, t in tables.items()}
    build = _Builder(dialect, impl, bind)
    new_tables = {
        keys.table(i.schema, i.table or "") for i in items if i.kind is DriftKind.MISSING_TABLE
    }
    labels: Mapping[Any, tuple[str, ...]] = getattr(existing_enums, "labels", {})
    steps: list[po.Step] = []
    planned_enums: set[tuple[str | None, str]] = set()
    for item in items:
        table = by_key.get(keys.table(item.schema, item.table or ""))
        kind = _operation_kind(item, table, new_tables, keys, dialect)
        if not item.healable or kind is None or kind.value not in allowed:
            if item.kind.value not in ("extra_table", "extra_column", "extra_index"):
                build.skipped.append(item)
            continue
        step = _step(item, kind, table, tables, keys, dialect, labels, planned_enums)
        if step is None:
            build.skipped.append(_unplannable(item))
        else:
            steps.append(step)
    steps = order_tables(steps, keys, dialect)
    if OperationKind.CREATE_INDEX.value in allowed:
        for table_step in [s for s in steps if s.kind is OperationKind.CREATE_TABLE]:
            steps.extend(_table_index_steps(table_step, keys, dialect))
    missing = keys.missing(items, by_key, lambda t, i: _unique_columns(t, i, dialect))
    ordered = po.order(steps, missing, po.describe_key)
    for step in steps:
        if step.blocked is not None and step.phase != po.TABLE_INDEX:
            hint = f"not planned: {step.blocked}"
            build.skipped.append(dataclasses.replace(step.item, healable=False, hint=hint))
    enums = set(existing_enums)
    operations: list[Operation] = []
    failed_tables: set[int] = set()
    for step in ordered:
        if step.phase == po.TABLE_INDEX and id(step.table) in failed_tables:
            continue
        if not build.add(operations, step, step.build(enums)):
            if step.kind is OperationKind.CREATE_TABLE:
                failed_tables.add(id(step.table))
    return Plan(operations=tuple(operations), skipped=tuple(build.skipped))


#: The operation that heals a drift kind on a model table (missing indexes: see below).
_HEALED_BY = {
    DriftKind.MISSING_TABLE: OperationKind.CREATE_TABLE,
    DriftKind.MISSING_COLUMN: OperationKind.ADD_COLUMN,
    DriftKind.MISSING_SEQUENCE: OperationKind.CREATE_SEQUENCE,
    DriftKind.ENUM_MISMATCH: OperationKind.ADD_ENUM_VALUE,
    DriftKind.MISSING_UNIQUE_CONSTRAINT: OperationKind.CREATE_UNIQUE_INDEX,
    DriftKind.INVALID_INDEX: OperationKind.REBUILD_INDEX,
}


def _operation_kind(
    item: Drift, table: sa.Table | None, new_tables: set[po.Key], keys: po.Keys, dialect: Dialect
) -> OperationKind | None:
    kind = item.kind
    if kind is DriftKind.MISSING_SCHEMA:
        return OperationKind.CREATE_SCHEMA
    if table is None:
        return None
    direct = _HEALED_BY.get(kind)
    if direct is not None:
        return direct
    if kind is DriftKind.MISSING_INDEX:
        index = _find_index(table, item.name, dialect)
        on_existing = keys.table(table.schema, table.name) not in new_tables
        if index is not None and index.unique and on_existing:
            return OperationKind.CREATE_UNIQUE_INDEX
        return OperationKind.CREATE_INDEX
    return None


def _step(
    item: Drift,
    kind: OperationKind,
    table: sa.Table | None,
    tables: Mapping[TableKey, sa.Table],
    keys: po.Keys,
    dialect: Dialect,
    labels: Mapping[Any, tuple[str, ...]],
    planned_enums: set[tuple[str | None, str]],
) -> po.Step | None:
    """The step that heals ``item``, or None when the model has nothing to build it from."""
    impl = impl_for(dialect)
    if kind is OperationKind.CREATE_SCHEMA:
        schema = str(item.name)
        return po.Step(
            item,
            kind,
            None,
            schema,
            po.SCHEMA,
            lambda e: [CreateSchema(schema)],
            provides={keys.schema(schema)},
        )
    assert table is not None
    if kind is OperationKind.CREATE_TABLE:
        needs: set[po.Key] = {keys.schema(table.schema)} if table.schema else set()
        for column in table.columns:
            sequence = column_sequence(column, dialect)
            if sequence is not None:
                needs.add(keys.sequence(sequence.schema, sequence.name))
        # foreign-key needs: in _order_tables, once inline and deferred ones are known
        return po.Step(item, kind, table, None, po.TABLE, lambda e: [], keys.of_table(table), needs)
    if kind is OperationKind.ADD_COLUMN:
        new_column = table.columns.get(item.name or "")
        if new_column is None:
            return None
        needs = set()
        sequence = column_sequence(new_column, dialect)
        if sequence is not None:
            needs.add(keys.sequence(sequence.schema, sequence.name))
        for fk in new_column.foreign_keys:
            if fk.constraint is not None:
                needs |= keys.foreign_key_needs(fk.constraint, table)

        def add_column(enums: set[tuple[str | None, str]]) -> list[Any]:
            assert new_column is not None and table is not None
            return [
                *impl.create_type_ddl([new_column], enums),
                *impl.add_column_ddl(table, new_column),
            ]

        provides = {keys.column(table.schema, table.name, new_column.name)}
        return po.Step(item, kind, table, new_column.name, po.COLUMN, add_column, provides, needs)
    if kind is OperationKind.CREATE_SEQUENCE:
        found = next(
            (
                s
                for c in table.columns
                if (s := column_sequence(c, dialect)) is not None and s.name == item.name
            ),
            None,
        )
        if found is None:
            return None
        seq = found
        return po.Step(
            item,
            kind,
            table,
            seq.name,
            po.SEQUENCE,
            lambda e: [CreateSequence(seq)],
            provides={keys.sequence(seq.schema, seq.name)},
            needs={keys.schema(seq.schema)} if seq.schema else set(),
        )
    if kind is OperationKind.ADD_ENUM_VALUE:
        enum_column = table.columns.get(item.name or "")
        type_ = getattr(enum_column, "type", None)
        if enum_column is None or not isinstance(type_, sa.Enum) or not type_.name:
            return None
        enum_key = (type_.schema, str(type_.name))
        if enum_key in planned_enums:  # one operation per type, for all its enum_columns
            return po.Step(item, kind, table, str(type_.name), po.ENUM_VALUES, lambda e: [])
        planned_enums.add(enum_key)
        ddl = impl.add_enum_value_ddl(enum_column, labels.get(enum_key))
        if not ddl:
            return None
        return po.Step(item, kind, table, str(type_.name), po.ENUM_VALUES, lambda e: ddl)
    if kind is OperationKind.REBUILD_INDEX:  # in place, under the name the database has
        rebuild = impl.rebuild_index_ddl(dialect, table.schema, item.name or "")
        if not rebuild:
            return None
        return po.Step(item, kind, table, item.name, po.INDEX, lambda e: list(rebuild))
    index = _index_for(table, item, dialect)
    if index is None:
        return None
    needs = {keys.column(table.schema, table.name, c.name) for c in index.columns}
    provides = (
        {keys.unique(table.schema, table.name, [c.name for c in index.columns])}
        if index.unique
        else set()
    )
    return po.Step(
        item,
        kind,
        table,
        rendered_name(index.name, dialect, index=True),
        po.INDEX,
        lambda e: [CreateIndex(index)],
        provides,
        needs,
    )


def _unplannable(item: Drift) -> Drift:
    """``item`` as skipped when the model or the database has nothing to heal it with."""
    if item.kind is DriftKind.INVALID_INDEX:
        return dataclasses.replace(item, healable=False, hint=REBUILD_HINT)
    return item


def _table_index_steps(table_step: po.Step, keys: po.Keys, dialect: Dialect) -> list[po.Step]:
    """The new table's indexes: each its own operation, right after the table."""
    table = table_step.table
    assert table is not None
    out = []
    for index in sorted(table.indexes, key=lambda i: str(i.name or "")):
        provides = (
            {keys.unique(table.schema, table.name, [c.name for c in index.columns])}
            if index.unique
            else set()
        )
        out.append(
            po.Step(
                table_step.item,
                OperationKind.CREATE_INDEX,
                table,
                rendered_name(index.name, dialect, index=True),
                po.TABLE_INDEX,
                _create_index(index),
                provides,
                {keys.table(table.schema, table.name)},
            )
        )
    return out


def _create_index(index: sa.Index) -> po.Build:
    return lambda enums: [CreateIndex(index)]


@dataclass
class _Builder:
    """Compiles DDL constructs into operations for one bind's dialect."""

    dialect: Dialect
    impl: DialectImpl
    bind: str | None
    skipped: list[Drift] = dataclasses.field(default_factory=list)

    def add(self, into: list[Operation], step: po.Step, ddl: Sequence[Any]) -> bool:
        """Compile ``ddl`` into an operation; on a compile error skip the item, saying why."""
        if not ddl:
            return True  # another step does the work (an enum type shared by columns)
        try:
            statements = tuple(str(d.compile(dialect=self.dialect)).strip() for d in ddl)
        except (sa.exc.CompileError, sa.exc.ArgumentError) as exc:
            reason = str(exc).splitlines()[0]
            hint = f"SQLAlchemy cannot build its DDL: {reason}"
            self.skipped.append(dataclasses.replace(step.item, healable=False, hint=hint))
            return False
        table = step.table
        schema = table.schema if table is not None else step.item.name
        into.append(
            Operation(
                kind=step.kind,
                bind=self.bind,
                schema=schema,
                table=table.name if table is not None else "",
                name=step.name,
                statements=statements,
                lock=self.impl.lock_level(step.kind),
                ddl=tuple(ddl),
            )
        )
        return True


def _find_index(table: sa.Table, name: str | None, dialect: Dialect) -> sa.Index | None:
    """The model's index the drift names (by the name ``create_all()`` gives it)."""
    for index in table.indexes:
        if index.name is not None and rendered_name(index.name, dialect, index=True) == name:
            return index
    return None


def _find_unique(table: sa.Table, item: Drift, dialect: Dialect) -> sa.UniqueConstraint | None:
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            if unique_index_name(table, constraint, dialect) == item.name:
                return constraint
    return None


def _unique_columns(table: sa.Table, item: Drift, dialect: Dialect) -> list[str] | None:
    """The columns of the unique index or constraint ``item`` names (None: not unique)."""
    if item.kind is DriftKind.MISSING_UNIQUE_CONSTRAINT:
        constraint = _find_unique(table, item, dialect)
        return None if constraint is None else [c.name for c in constraint.columns]
    index = _find_index(table, item.name, dialect)
    return [c.name for c in index.columns] if index is not None and index.unique else None


def _index_for(table: sa.Table, item: Drift, dialect: Dialect) -> sa.Index | None:
    """The model's index for a missing_index item; for a missing unique constraint, a unique
    index named as the constraint, on a detached copy of the table (the model's own table is
    never given an index it does not declare)."""
    if item.kind is DriftKind.MISSING_INDEX:
        return _find_index(table, item.name, dialect)
    constraint = _find_unique(table, item, dialect)
    if constraint is None:
        return None
    copy = sa.Table(
        table.name,
        sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in constraint.columns),
        schema=table.schema,
    )
    name = unique_index_name(table, constraint, dialect)
    return sa.Index(name, *(copy.c[c.name] for c in constraint.columns), unique=True)


def unique_index_name(table: sa.Table, constraint: sa.UniqueConstraint, dialect: Dialect) -> str:
    """The name ``create_all()`` gives the constraint (its own or its naming convention's,
    cut as SQLAlchemy cuts it), else the name the database itself would give it."""
    name = rendered_name(constraint.name, dialect, index=False)
    if name is not None:
        return name
    return impl_for(dialect).unique_constraint_name(
        table.name, [c.name for c in constraint.columns]
    )

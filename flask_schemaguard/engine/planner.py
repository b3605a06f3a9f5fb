"""Turn healable drift into ordered, additive DDL operations (pure, no I/O).

Order: missing tables in foreign-key dependency order, then missing columns, then indexes
(those of the new tables first). Nothing here can drop, rename or retype anything: the only
statements produced are CREATE TABLE, ALTER TABLE ... ADD COLUMN, CREATE [UNIQUE] INDEX and,
on PostgreSQL, CREATE TYPE for a native enum the new table or column needs.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, ExecutableDDLElement

from ..dialects import DialectImpl, impl_for
from ..report import Drift, DriftKind, Operation, OperationKind
from ..shape import TableKey
from .filters import unique_name

ALL_OPERATIONS = frozenset(k.value for k in OperationKind)

_KIND_FOR_DRIFT = {
    DriftKind.MISSING_TABLE: OperationKind.CREATE_TABLE,
    DriftKind.MISSING_COLUMN: OperationKind.ADD_COLUMN,
    DriftKind.MISSING_INDEX: OperationKind.CREATE_INDEX,
    DriftKind.MISSING_UNIQUE_CONSTRAINT: OperationKind.CREATE_INDEX,
    DriftKind.INVALID_INDEX: OperationKind.REBUILD_INDEX,
}

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
    phrase) is not planned: its drift item is skipped with the compiler's reason.
    """
    build = _Builder(dialect, impl_for(dialect), bind)
    impl = build.impl
    by_key = {(k[0], impl.fold(k[1])): t for k, t in tables.items()}
    enums = set(existing_enums)
    new_tables: dict[sa.Table, Drift] = {}
    columns: list[Operation] = []
    indexes: list[Operation] = []
    for item in items:
        op_kind = _KIND_FOR_DRIFT.get(item.kind)
        table = by_key.get((item.schema, impl.fold(item.table or "")))
        if not item.healable or op_kind is None or op_kind.value not in allowed or table is None:
            if item.kind.value not in ("extra_table", "extra_column", "extra_index"):
                build.skipped.append(item)
            continue
        if item.kind is DriftKind.MISSING_TABLE:
            new_tables[table] = item
        elif item.kind is DriftKind.MISSING_COLUMN:
            column = table.columns.get(item.name or "")
            if column is None:
                build.skipped.append(item)
                continue
            ddl = [*impl.create_type_ddl([column], enums), *impl.add_column_ddl(table, column)]
            build.add(columns, item, OperationKind.ADD_COLUMN, table, column.name, ddl)
        elif item.kind is DriftKind.MISSING_INDEX:
            index = _find_index(table, item.name)
            if index is None:
                build.skipped.append(item)
                continue
            build.add(
                indexes, item, OperationKind.CREATE_INDEX, table, index.name, [CreateIndex(index)]
            )
        elif item.kind is DriftKind.INVALID_INDEX:
            rebuild = impl.rebuild_index_ddl(dialect, table.schema, item.name or "")
            if not rebuild:
                build.skipped.append(dataclasses.replace(item, healable=False, hint=REBUILD_HINT))
                continue
            build.add(indexes, item, OperationKind.REBUILD_INDEX, table, item.name, rebuild)
        else:
            constraint = _find_unique(table, item)
            if constraint is None:
                build.skipped.append(item)
                continue
            name = unique_index_name(table, constraint, dialect)
            ddl = [CreateIndex(_unique_index(table, constraint, name))]
            build.add(indexes, item, OperationKind.CREATE_INDEX, table, name, ddl)

    table_ops: list[Operation] = []
    table_index_ops: list[Operation] = []
    ordered = _dependency_order(list(new_tables))
    inline, deferred = _split_foreign_keys(ordered, dialect)
    for table in ordered:
        item = new_tables[table]
        ddl = [
            *impl.create_type_ddl(table.columns, enums),
            CreateTable(table, include_foreign_key_constraints=inline[table.key]),
            *(AddConstraint(fk) for fk in deferred[table.key]),
        ]
        if not build.add(table_ops, item, OperationKind.CREATE_TABLE, table, None, ddl):
            continue
        if OperationKind.CREATE_INDEX.value not in allowed:
            continue  # the new table's indexes then show up as missing_index afterwards
        for index in sorted(table.indexes, key=lambda i: str(i.name or "")):
            kind = OperationKind.CREATE_INDEX
            build.add(table_index_ops, item, kind, table, index.name, [CreateIndex(index)])
    ops = (*table_ops, *columns, *table_index_ops, *indexes)
    return Plan(operations=ops, skipped=tuple(build.skipped))


@dataclass
class _Builder:
    """Compiles DDL constructs into operations for one bind's dialect."""

    dialect: Dialect
    impl: DialectImpl
    bind: str | None
    skipped: list[Drift] = dataclasses.field(default_factory=list)

    def add(
        self,
        into: list[Operation],
        item: Drift,
        kind: OperationKind,
        table: sa.Table,
        name: Any,
        ddl: Sequence[ExecutableDDLElement],
    ) -> bool:
        """Compile ``ddl`` into an operation; on a compile error skip ``item``, saying why."""
        try:
            statements = tuple(str(d.compile(dialect=self.dialect)).strip() for d in ddl)
        except (sa.exc.CompileError, sa.exc.ArgumentError) as exc:
            reason = str(exc).splitlines()[0]
            hint = f"SQLAlchemy cannot build its DDL: {reason}"
            self.skipped.append(dataclasses.replace(item, healable=False, hint=hint))
            return False
        into.append(
            Operation(
                kind=kind,
                bind=self.bind,
                schema=table.schema,
                table=table.name,
                name=None if name is None else str(name),
                statements=statements,
                lock=self.impl.lock_level(kind),
                ddl=tuple(ddl),
            )
        )
        return True


def _unique_index(table: sa.Table, constraint: sa.UniqueConstraint, name: str) -> sa.Index:
    """A unique index for ``constraint`` on a detached copy of ``table`` (the model's own
    table is never given an index it does not declare)."""
    copy = sa.Table(
        table.name,
        sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in constraint.columns),
        schema=table.schema,
    )
    return sa.Index(name, *(copy.c[c.name] for c in constraint.columns), unique=True)


def _split_foreign_keys(
    ordered: list[sa.Table], dialect: Dialect
) -> tuple[dict[str, list[sa.ForeignKeyConstraint]], dict[str, list[sa.ForeignKeyConstraint]]]:
    """Foreign keys created inline, and ``ALTER TABLE ... ADD`` statements run later.

    A foreign key to a new table created later (a cycle) or marked ``use_alter`` (which
    ``CreateTable`` leaves out) is added by the create_table operation of whichever of its
    two tables comes last. SQLite cannot add constraints but accepts forward references.
    """
    position = {t.key: i for i, t in enumerate(ordered)}
    inline: dict[str, list[sa.ForeignKeyConstraint]] = {t.key: [] for t in ordered}
    deferred: dict[str, list[sa.ForeignKeyConstraint]] = {t.key: [] for t in ordered}
    for table in ordered:
        for fkc in sorted(table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)):
            try:
                target = fkc.referred_table.key
            except Exception:  # an unresolvable target: let CREATE TABLE report it
                target = None
            later = target is not None and position.get(target, -1) > position[table.key]
            if not dialect.supports_alter or not (later or fkc.use_alter):
                inline[table.key].append(fkc)
                continue
            host = target if later and target is not None else table.key
            deferred[host].append(fkc)
    return inline, deferred


def _find_index(table: sa.Table, name: str | None) -> sa.Index | None:
    for index in table.indexes:
        if index.name is not None and str(index.name) == name:
            return index
    return None


def _find_unique(table: sa.Table, item: Drift) -> sa.UniqueConstraint | None:
    for constraint in table.constraints:
        if not isinstance(constraint, sa.UniqueConstraint):
            continue
        name = constraint.name or unique_name(table.name, (c.name for c in constraint.columns))
        if str(name) == item.name:
            return constraint
    return None


def unique_index_name(table: sa.Table, constraint: sa.UniqueConstraint, dialect: Dialect) -> str:
    """The constraint's own name, or ``uq_<table>_<columns>`` cut to the dialect's limit."""
    if constraint.name:
        return str(constraint.name)
    name = unique_name(table.name, (c.name for c in constraint.columns))
    # MySQL allows 255-character aliases but only 64-character index names.
    limit = impl_for(dialect).max_index_name_length(dialect)
    if len(name) > limit:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = name[: limit - 9] + "_" + digest
    return name


def _dependency_order(tables: list[sa.Table]) -> list[sa.Table]:
    """Referenced tables first; ties (and cycles) by name, so the order is stable."""
    pending = {t.key: t for t in tables}
    ordered: list[sa.Table] = []
    while pending:
        ready = [
            t
            for t in pending.values()
            if not any(
                fk.column.table.key in pending and fk.column.table is not t
                for fk in _resolvable_fks(t)
            )
        ]
        if not ready:  # a cycle: fall back to name order
            ready = [min(pending.values(), key=lambda t: t.key)]
        for table in sorted(ready, key=lambda t: t.key):
            ordered.append(table)
            del pending[table.key]
    return ordered


def _resolvable_fks(table: sa.Table) -> list[sa.ForeignKey]:
    resolved = []
    for fk in table.foreign_keys:
        try:
            fk.column  # noqa: B018 - resolves the target column
        except Exception:
            continue
        resolved.append(fk)
    return resolved

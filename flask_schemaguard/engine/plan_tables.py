"""New tables in a plan: foreign-key order, inline and deferred foreign keys, their DDL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import AddConstraint, CreateTable, ExecutableDDLElement

from ..dialects import impl_for
from ..report import OperationKind
from . import plan_order as po


def order_tables(steps: list[po.Step], keys: po.Keys, dialect: Dialect) -> list[po.Step]:
    """New tables in foreign-key order (referenced tables first; cycles by name), each with
    its DDL: named types, CREATE TABLE with its inline foreign keys, then the foreign keys
    deferred to it (a cycle's, ``use_alter``'s); and the needs of those foreign keys."""
    impl = impl_for(dialect)
    table_steps = {id(s.table): s for s in steps if s.kind is OperationKind.CREATE_TABLE}
    tables = [s.table for s in table_steps.values() if s.table is not None]
    ordered = _dependency_order(tables)
    inline, deferred = _split_foreign_keys(ordered, dialect)
    for table in ordered:
        step = table_steps[id(table)]
        for fk in (*inline[table.key], *deferred[table.key]):
            step.needs |= keys.foreign_key_needs(fk, table)

        def create(
            enums: set[tuple[str | None, str]], table: sa.Table = table
        ) -> list[ExecutableDDLElement]:
            return [
                *impl.create_type_ddl(table.columns, enums),
                CreateTable(table, include_foreign_key_constraints=inline[table.key]),
                *(AddConstraint(fk) for fk in deferred[table.key]),
            ]

        step.build = create
    rank = {id(t): i for i, t in enumerate(ordered)}
    others = [s for s in steps if s.kind is not OperationKind.CREATE_TABLE]
    return sorted(table_steps.values(), key=lambda s: rank[id(s.table)]) + others


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

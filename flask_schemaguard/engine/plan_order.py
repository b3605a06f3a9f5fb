"""Order a heal's steps by what each needs in the live database (pure, no I/O).

Each step says what it *provides* (a schema, a sequence, a table and its columns and unique
keys, a column, a unique index) and what it *needs* that the live database lacks. A step is
planned after the steps that provide its needs; one whose need nothing planned provides (an
operation that is not allowed or cannot be healed) is skipped, saying which, and so are the
steps that needed what it would have provided. Among the ready steps the phase decides
(schemas, sequences, enum labels, tables, columns, the new tables' indexes, other indexes),
then the order they were made in, so the plan is stable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..dialects import DialectImpl
from ..report import Drift, DriftKind, OperationKind

Key = tuple[Any, ...]
#: Builds a step's DDL constructs, given the named types created so far.
Build = Callable[[set[tuple[str | None, str]]], list[Any]]

SCHEMA, SEQUENCE, ENUM_VALUES, TABLE, COLUMN, TABLE_INDEX, INDEX = range(7)


@dataclass
class Step:
    """One operation to be: what it heals, needs and provides; its DDL built once ordered."""

    item: Drift
    kind: OperationKind
    table: sa.Table | None
    name: str | None
    phase: int
    build: Build
    provides: set[Key] = field(default_factory=set)
    needs: set[Key] = field(default_factory=set)
    #: Set when the step is skipped: why.
    blocked: str | None = None


class Keys:
    """Keys of schema objects, folded as the database compares names."""

    def __init__(self, impl: DialectImpl) -> None:
        self.impl = impl

    def schema(self, schema: str) -> Key:
        return ("schema", schema)

    def sequence(self, schema: str | None, name: str) -> Key:
        return ("sequence", schema, self.impl.fold(name))

    def table(self, schema: str | None, table: str) -> Key:
        return ("table", schema, self.impl.fold(table))

    def column(self, schema: str | None, table: str, column: str) -> Key:
        return ("column", schema, self.impl.fold(table), self.impl.fold(column))

    def unique(self, schema: str | None, table: str, columns: Iterable[str]) -> Key:
        return ("unique", schema, self.impl.fold(table), frozenset(self.impl.fold_all(columns)))

    def of_table(self, table: sa.Table) -> set[Key]:
        """A new table provides itself, its columns and its primary key / unique keys."""
        out = {self.table(table.schema, table.name)}
        out |= {self.column(table.schema, table.name, c.name) for c in table.columns}
        out.add(self.unique(table.schema, table.name, [c.name for c in table.primary_key]))
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                out.add(self.unique(table.schema, table.name, [c.name for c in constraint.columns]))
        return out

    def foreign_key_needs(self, fk: sa.ForeignKeyConstraint, table: sa.Table) -> set[Key]:
        """The referred table, its columns, and a unique key over them."""
        try:
            target = fk.referred_table
        except Exception:  # unresolvable: CREATE TABLE reports it
            return set()
        columns = [e.column.name for e in fk.elements]
        out = {self.table(target.schema, target.name)}
        out |= {self.column(target.schema, target.name, c) for c in columns}
        out.add(self.unique(target.schema, target.name, columns))
        return out

    def missing(
        self,
        items: Sequence[Drift],
        tables: dict[Key, sa.Table],
        unique_columns: Callable[[sa.Table, Drift], list[str] | None],
    ) -> set[Key]:
        """What the live database lacks, from the drift items."""
        out: set[Key] = set()
        for item in items:
            kind, schema, table = item.kind, item.schema, item.table or ""
            sa_table = tables.get(self.table(schema, table))
            if kind is DriftKind.MISSING_SCHEMA and item.name:
                out.add(self.schema(item.name))
            elif kind is DriftKind.MISSING_SEQUENCE and item.name:
                out.add(self.sequence(schema, item.name))
            elif kind is DriftKind.MISSING_TABLE and sa_table is not None:
                out |= self.of_table(sa_table)
            elif kind is DriftKind.MISSING_COLUMN and item.name:
                out.add(self.column(schema, table, item.name))
            elif sa_table is not None and kind in (
                DriftKind.MISSING_INDEX,
                DriftKind.MISSING_UNIQUE_CONSTRAINT,
            ):
                columns = unique_columns(sa_table, item)
                if columns is not None:
                    out.add(self.unique(schema, table, columns))
        return out


def order(steps: list[Step], missing: set[Key], describe: Callable[[Key], str]) -> list[Step]:
    """``steps`` that can run, in an order that meets every need; the others blocked."""
    for step in steps:
        step.needs = {k for k in step.needs if k in missing} - step.provides
    pending = [s for s in steps if s.blocked is None]
    changed = True
    while changed:  # a step whose need no other planned step provides cannot run
        provided: set[Key] = set().union(*(s.provides for s in pending))
        changed = False
        for step in pending:
            lacking = sorted(step.needs - provided, key=repr)
            if lacking:
                step.blocked = f"needs {describe(lacking[0])}, which this heal does not create"
                changed = True
        pending = [s for s in pending if s.blocked is None]
    ordered: list[Step] = []
    done: set[Key] = set()
    position = {id(s): i for i, s in enumerate(pending)}
    while pending:
        ready = [s for s in pending if s.needs <= done]
        step = min(ready or pending, key=lambda s: (s.phase, position[id(s)]))
        ordered.append(step)
        done |= step.provides
        pending.remove(step)
    return ordered


def describe_key(key: Key) -> str:
    kind = key[0]
    if kind == "schema":
        return f"schema {key[1]}"
    qual = f"{key[1]}.{key[2]}" if key[1] else str(key[2])
    if kind == "sequence":
        return f"sequence {qual}"
    if kind == "table":
        return f"table {qual}"
    if kind == "column":
        return f"column {qual}.{key[3]}"
    return f"a unique index on {qual} ({', '.join(sorted(key[3]))})"

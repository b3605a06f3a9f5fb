"""Turn healable drift into ordered, additive DDL operations (pure, no I/O).

Order: missing tables in foreign-key dependency order, then missing columns, then indexes
(those of the new tables first). Nothing here can drop, rename or retype anything: the only
statements produced are CREATE TABLE, ALTER TABLE ... ADD COLUMN, CREATE [UNIQUE] INDEX and,
on PostgreSQL, CREATE TYPE for a native enum the new table or column needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from .names import fold, unique_name
from .report import Drift, DriftKind, Operation, OperationKind
from .shape import TableKey

ALL_OPERATIONS = frozenset(k.value for k in OperationKind)

_KIND_FOR_DRIFT = {
    DriftKind.MISSING_TABLE: OperationKind.CREATE_TABLE,
    DriftKind.MISSING_COLUMN: OperationKind.ADD_COLUMN,
    DriftKind.MISSING_INDEX: OperationKind.CREATE_INDEX,
    DriftKind.MISSING_UNIQUE_CONSTRAINT: OperationKind.CREATE_INDEX,
}


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
    """Plan the operations that heal ``items`` (one bind's drift)."""
    by_key = {(k[0], fold(k[1], dialect.name)): t for k, t in tables.items()}
    enums = {(s, fold(n, dialect.name)) for s, n in existing_enums}
    new_tables: list[sa.Table] = []
    columns: list[Operation] = []
    indexes: list[Operation] = []
    skipped: list[Drift] = []
    for item in items:
        op_kind = _KIND_FOR_DRIFT.get(item.kind)
        table = by_key.get((item.schema, fold(item.table or "", dialect.name)))
        if not item.healable or op_kind is None or op_kind.value not in allowed or table is None:
            if item.kind.value not in ("extra_table", "extra_column", "extra_index"):
                skipped.append(item)
            continue
        if item.kind is DriftKind.MISSING_TABLE:
            new_tables.append(table)
        elif item.kind is DriftKind.MISSING_COLUMN:
            column = table.columns.get(item.name or "")
            if column is None:
                skipped.append(item)
                continue
            columns.append(
                _op(
                    OperationKind.ADD_COLUMN,
                    bind,
                    table,
                    column.name,
                    [*_enum_ddl([column], dialect, enums), _add_column_sql(table, column, dialect)],
                )
            )
        elif item.kind is DriftKind.MISSING_INDEX:
            index = _find_index(table, item.name)
            if index is None:
                skipped.append(item)
                continue
            indexes.append(_index_op(bind, table, index, dialect))
        else:
            constraint = _find_unique(table, item)
            if constraint is None:
                skipped.append(item)
                continue
            name = unique_index_name(table, constraint, dialect)
            prep = dialect.identifier_preparer
            cols = ", ".join(prep.format_column(c) for c in constraint.columns)
            sql = f"CREATE UNIQUE INDEX {prep.quote(name)} ON {prep.format_table(table)} ({cols})"
            indexes.append(_op(OperationKind.CREATE_INDEX, bind, table, name, [sql]))

    table_ops: list[Operation] = []
    table_index_ops: list[Operation] = []
    ordered = _dependency_order(new_tables)
    inline, deferred = _split_foreign_keys(ordered, dialect)
    for table in ordered:
        statements = [
            *_enum_ddl(table.columns, dialect, enums),
            _create_table_sql(table, dialect, inline[table.key]),
            *deferred[table.key],
        ]
        table_ops.append(_op(OperationKind.CREATE_TABLE, bind, table, None, statements))
        if OperationKind.CREATE_INDEX.value not in allowed:
            continue  # the new table's indexes then show up as missing_index afterwards
        for index in sorted(table.indexes, key=lambda i: str(i.name or "")):
            table_index_ops.append(_index_op(bind, table, index, dialect))
    ops = (*table_ops, *columns, *table_index_ops, *indexes)
    return Plan(operations=ops, skipped=tuple(skipped))


def _op(
    kind: OperationKind,
    bind: str | None,
    table: sa.Table,
    name: str | None,
    statements: Sequence[str],
) -> Operation:
    return Operation(
        kind=kind,
        bind=bind,
        schema=table.schema,
        table=table.name,
        name=name,
        sql=";\n".join(statements),
    )


def statements_of(operation: Operation) -> list[str]:
    """The separate SQL statements of an operation (CREATE TYPE before CREATE TABLE)."""
    return [s for s in operation.sql.split(";\n") if s.strip()]


def _index_op(bind: str | None, table: sa.Table, index: sa.Index, dialect: Dialect) -> Operation:
    sql = str(CreateIndex(index).compile(dialect=dialect)).strip()
    return _op(OperationKind.CREATE_INDEX, bind, table, str(index.name), [sql])


def _create_table_sql(
    table: sa.Table, dialect: Dialect, foreign_keys: list[sa.ForeignKeyConstraint]
) -> str:
    ddl = CreateTable(table, include_foreign_key_constraints=foreign_keys)
    return str(ddl.compile(dialect=dialect)).strip()


def _split_foreign_keys(
    ordered: list[sa.Table], dialect: Dialect
) -> tuple[dict[str, list[sa.ForeignKeyConstraint]], dict[str, list[str]]]:
    """Foreign keys created inline, and ``ALTER TABLE ... ADD`` statements run later.

    A foreign key to a new table created later (a cycle) or marked ``use_alter`` (which
    ``CreateTable`` leaves out) is added by the create_table operation of whichever of its
    two tables comes last. SQLite cannot add constraints but accepts forward references.
    """
    position = {t.key: i for i, t in enumerate(ordered)}
    inline: dict[str, list[sa.ForeignKeyConstraint]] = {t.key: [] for t in ordered}
    deferred: dict[str, list[str]] = {t.key: [] for t in ordered}
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
            deferred[host].append(str(AddConstraint(fkc).compile(dialect=dialect)).strip())
    return inline, deferred


def _add_column_sql(table: sa.Table, column: sa.Column[object], dialect: Dialect) -> str:
    prep = dialect.identifier_preparer
    ddl = dialect.ddl_compiler(dialect, None)  # type: ignore[arg-type]
    spec = ddl.get_column_specification(column)
    sql = f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {spec}"
    fks = [fk for fk in column.foreign_keys if len(fk.constraint.columns) == 1]  # type: ignore[union-attr]
    if len(fks) == 1:
        fk = fks[0]
        parts = fk.target_fullname.split(".")
        target_table = ".".join(prep.quote(p) for p in parts[:-1])
        ref = f"REFERENCES {target_table} ({prep.quote(parts[-1])})"
        if fk.ondelete:
            ref += f" ON DELETE {fk.ondelete}"
        if dialect.name == "mysql":
            sql += f", ADD FOREIGN KEY ({prep.format_column(column)}) {ref}"
        else:
            sql += f" {ref}"
    return sql


def _enum_ddl(
    columns: Iterable[sa.Column[object]], dialect: Dialect, existing: set[tuple[str | None, str]]
) -> list[str]:
    if dialect.name != "postgresql":
        return []
    statements = []
    for column in columns:
        type_ = column.type
        if isinstance(type_, sa.Enum) and type_.native_enum and type_.name:
            # the schema CreateTable qualifies the type with (None: the search path)
            key = (type_.schema, fold(type_.name, dialect.name))
            if key in existing:
                continue
            existing.add(key)
            from sqlalchemy.dialects.postgresql import ENUM
            from sqlalchemy.dialects.postgresql.named_types import CreateEnumType

            pg_enum = (
                type_
                if isinstance(type_, ENUM)
                else ENUM(*type_.enums, name=type_.name, schema=key[0])
            )
            statements.append(str(CreateEnumType(pg_enum).compile(dialect=dialect)).strip())
    return statements


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
    limit = getattr(dialect, "max_index_name_length", None) or dialect.max_identifier_length or 63
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

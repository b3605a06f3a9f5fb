"""``flask schemaguard revision``: an Alembic migration for what a heal would do or has done.

The operations are Alembic's own (``alembic.operations.ops``), built from the model objects
and rendered by Alembic's renderer, so the file reads like one ``flask db migrate`` writes;
only what Alembic has no operation for (a PostgreSQL enum value, a sequence) is an
``op.execute``. What cannot be written as an additive migration is listed as comments.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.config import Config as AlembicConfig
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import rev_id

from .engine import audit_marks
from .engine.heal import plan_for
from .engine.model_shapes import rendered_name
from .engine.owned_tables import audit_table
from .engine.planner import unique_index_name
from .engine.targets import Target
from .errors import SchemaGuardError
from .report import Drift, Operation, OperationKind, Severity
from .state import GuardState

#: Modules a rendered migration may refer to, and the import each needs.
_IMPORTS = {
    "postgresql.": "from sqlalchemy.dialects import postgresql",
    "mysql.": "from sqlalchemy.dialects import mysql",
    "sqlite.": "from sqlalchemy.dialects import sqlite",
}


@dataclass
class Revision:
    """What ``write_revision`` wrote (``path`` None: nothing to write)."""

    path: str | None
    revision: str | None
    operations: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


@dataclass
class _Ops:
    upgrade: list[ops.MigrateOperation] = field(default_factory=list)
    downgrade: list[ops.MigrateOperation] = field(default_factory=list)
    described: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    new_tables: set[tuple[str | None, str]] = field(default_factory=set)


def write_revision(
    state: GuardState,
    *,
    message: str,
    from_history: bool,
    bind: str | None,
    directory: str,
) -> Revision:
    """Write one migration for ``bind`` into ``directory``; stamp the database after a
    ``from_history`` revision (it already has those objects)."""
    target = _target(state, bind)
    script = _script_directory(directory)
    with target.engine.connect() as conn:
        if from_history:
            collected, last_id = _from_history(state, target, conn)
        else:
            collected, last_id = _from_drift(state, target), None
    if not collected.upgrade:
        return Revision(None, None, [], collected.comments)
    upgrades = _render(ops.UpgradeOps(ops=collected.upgrade), target)
    downgrades = _render(ops.DowngradeOps(ops=list(reversed(collected.downgrade))), target)
    if collected.comments:
        upgrades += "\n    # Not written, as no additive migration can express it:\n" + "\n".join(
            f"    # - {c}" for c in collected.comments
        )
    imports = sorted({imp for key, imp in _IMPORTS.items() if key in upgrades + downgrades})
    revision_id = rev_id()
    written = script.generate_revision(
        revision_id,
        message,
        head="head",
        refresh=True,
        upgrades=upgrades,
        downgrades=downgrades,
        imports="\n".join(imports),
    )
    path = getattr(written, "path", None)
    if path is not None:
        _sort_imports(path)
    if from_history:
        _stamp(state, target, script, revision_id, last_id)
    return Revision(path, revision_id, collected.described, collected.comments)


def _sort_imports(path: str) -> None:
    """Order the template's top import block as isort (and ruff's ``I`` rules) do: plain
    ``import`` lines, then ``from`` imports, each by module. Flask-Migrate's template puts
    ``from alembic import op`` first, which ruff reports."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(("import ", "from "))), None)
    if start is None:
        return
    end = start
    while end < len(lines) and (lines[end].startswith(("import ", "from ")) or not lines[end]):
        end += 1
    block = [line for line in lines[start:end] if line]
    plain = sorted((x for x in block if x.startswith("import ")), key=lambda x: x.split()[1])
    froms = sorted((x for x in block if x.startswith("from ")), key=lambda x: x.split()[1])
    lines[start:end] = [*plain, *froms, ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def _target(state: GuardState, bind: str | None) -> Target:
    for target in state.targets:
        if target.bind == bind:
            return target
    known = ", ".join(sorted(t.bind or "default" for t in state.targets))
    raise SchemaGuardError(f"no bind named {bind or 'default'!r}; known binds: {known}")


def _script_directory(directory: str) -> ScriptDirectory:
    config = AlembicConfig()
    config.set_main_option("script_location", directory)
    try:
        return ScriptDirectory.from_config(config)
    except Exception as exc:  # alembic raises CommandError and OSError variants
        raise SchemaGuardError(
            f"{directory} is not an Alembic migrations directory: {exc}"
        ) from exc


def _from_drift(state: GuardState, target: Target) -> _Ops:
    check = state.runner.check_target(target, fast=False)
    if not check.info.reachable:
        raise SchemaGuardError(f"cannot reach database {check.info.url}: {check.info.error}")
    plan = plan_for(target, check.items, check.enums, state.runner.settings)
    collected = _Ops()
    for op in plan.operations:
        _add(collected, target, op.kind, op.schema, op.table, op.name, op)
    _comment(collected, plan.skipped)
    _comment(collected, (i for i in check.items if not i.healable and i not in plan.skipped))
    return collected


def _from_history(state: GuardState, target: Target, conn: sa.Connection) -> tuple[_Ops, int]:
    name = state.runner.settings.audit_table
    if name is None:
        raise SchemaGuardError("SCHEMAGUARD_AUDIT_TABLE is None: there is no history to read")
    table = audit_table(name)
    collected = _Ops()
    if not sa.inspect(conn).has_table(table.name):
        return collected, 0
    state_name = state.runner.settings.state_table or ""
    mark = audit_marks.read_mark(conn, state_name, target.bind) if state_name else None
    heads = audit_marks.current_heads(conn)
    since = mark[1] if mark is not None and mark[0] == heads else 0
    rows = conn.execute(
        sa.select(table)
        .where(table.c.id > since, table.c.outcome == "applied")
        .where(table.c.bind.is_(None) if target.bind is None else table.c.bind == target.bind)
        .order_by(table.c.id)
    ).all()
    seen: set[tuple[str, str, str | None]] = set()
    for row in rows:
        key = (row.operation, row.table_name, row.object_name)
        if key in seen:
            continue
        seen.add(key)
        schema, _, table_name = str(row.table_name).rpartition(".")
        _add(
            collected,
            target,
            OperationKind(row.operation),
            schema or None,
            table_name,
            row.object_name,
            None,
        )
    return collected, audit_marks.last_audit_id(conn, name)


def _add(
    collected: _Ops,
    target: Target,
    kind: OperationKind,
    schema: str | None,
    table_name: str,
    name: str | None,
    op: Operation | None,
) -> None:
    """The Alembic operation (and its inverse) for one healed or healable change."""
    table = target.tables_by_key.get((schema, table_name))
    label = f"{kind.value} {schema + '.' if schema else ''}{table_name}{'.' + name if name else ''}"
    if table is None:
        collected.comments.append(f"{label}: the models no longer have this table")
        return
    up, down = _operations(kind, table, name, op, target)
    if not up:
        collected.comments.append(f"{label}: the models no longer have it")
        return
    collected.upgrade.extend(up)
    created = (table.schema, table.name) in collected.new_tables
    if kind is OperationKind.CREATE_TABLE:
        collected.new_tables.add((table.schema, table.name))
    index_kinds = (OperationKind.CREATE_INDEX, OperationKind.CREATE_UNIQUE_INDEX)
    if not (created and kind in index_kinds):  # DROP TABLE drops its indexes
        collected.downgrade.extend(down)
    collected.described.append(label)


def _operations(
    kind: OperationKind, table: sa.Table, name: str | None, op: Operation | None, target: Target
) -> tuple[list[Any], list[Any]]:
    if kind is OperationKind.CREATE_TABLE:
        return [ops.CreateTableOp.from_table(table)], [ops.DropTableOp.from_table(table)]
    if kind is OperationKind.ADD_COLUMN:
        column = table.columns.get(name or "")
        if column is None:
            return [], []
        add = ops.AddColumnOp.from_column_and_tablename(table.schema, table.name, column)
        drop = ops.DropColumnOp.from_column_and_tablename(table.schema, table.name, column)
        return [add], [drop]
    if kind in (OperationKind.CREATE_INDEX, OperationKind.CREATE_UNIQUE_INDEX):
        dialect = target.engine.dialect
        index = next(
            (i for i in table.indexes if rendered_name(i.name, dialect, index=True) == name), None
        )
        if index is not None:
            return [ops.CreateIndexOp.from_index(index)], [ops.DropIndexOp.from_index(index)]
        unique = next(
            (
                c
                for c in table.constraints
                if isinstance(c, sa.UniqueConstraint)
                and unique_index_name(table, c, dialect) == name
            ),
            None,
        )
        if unique is None or name is None:
            return [], []
        columns = [c.name for c in unique.columns]
        create = ops.CreateIndexOp(name, table.name, columns, schema=table.schema, unique=True)
        return [create], [ops.DropIndexOp(name, table.name, schema=table.schema)]
    if op is not None:  # no Alembic operation for it: its DDL as it is
        return [ops.ExecuteSQLOp(s) for s in op.statements], []
    return [], []


def _comment(collected: _Ops, items: Iterable[Drift]) -> None:
    for item in items:
        if item.severity is Severity.INFO:
            continue
        collected.comments.append(item.detail + (f" ({item.hint})" if item.hint else ""))


def _render(body: ops.UpgradeOps | ops.DowngradeOps, target: Target) -> str:
    context = MigrationContext.configure(dialect=target.engine.dialect)
    return render_python_code(body, migration_context=context)


def _stamp(
    state: GuardState, target: Target, script: ScriptDirectory, revision: str, last_id: int | None
) -> None:
    """The database has the objects already: record it at the new revision."""
    with target.engine.begin() as conn:
        MigrationContext.configure(conn).stamp(script, revision)
        state_name = state.runner.settings.state_table
        if state_name and last_id is not None:
            heads = audit_marks.current_heads(conn)
            audit_marks.write_mark(conn, state_name, target.bind, heads, last_id)


def migrations_directory(state: GuardState, given: str | None) -> str:
    """``--directory``, else ``SCHEMAGUARD_MIGRATIONS_DIR`` or Flask-Migrate's directory."""
    directory = given or state.runner.settings.migrations_dir
    if not directory:
        raise SchemaGuardError(
            "no migrations directory: pass --directory, set SCHEMAGUARD_MIGRATIONS_DIR, or set "
            "up Flask-Migrate (flask db init)"
        )
    if not os.path.isdir(directory):
        raise SchemaGuardError(f"the migrations directory {directory} does not exist")
    return os.path.abspath(directory)

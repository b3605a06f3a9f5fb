"""After a check or heal: make the ORM match the database it really talks to.

- Pools are disposed and compiled-statement caches cleared after DDL, so no connection keeps
  a stale prepared statement or cached column list.
- A mapped column the database still lacks is *degraded* (see :mod:`.orm_degrade`): queries
  read NULL for it, flushes leave it out, writing a value to it raises ``SchemaDriftError``.
  Once a check finds the column in the database, the original mapping is restored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from . import orm_degrade, orm_internals
from .dialects import impl_for
from .engine.targets import Target
from .report import DriftKind, DriftReport

_lock = threading.Lock()  # one sync at a time (the gate orders it with the ORM's work)


def dispose_engines(targets: Iterable[Target]) -> None:
    """Drop pooled connections and cached compiled statements of each engine."""
    for target in targets:
        engine = target.engine
        engine.clear_compiled_cache()
        if impl_for(engine).keeps_data_in_pool(engine):
            continue  # an in-memory SQLite database lives in its pooled connection
        engine.dispose()


def sync_mappers(targets: Iterable[Target], report: DriftReport, *, degrade: bool) -> list[str]:
    """Degrade mapped columns the report says are missing; restore those now present.

    Binds the report could not reach are left as they are. Returns the ``table.column``
    names degraded after the call.
    """
    targets = list(targets)
    unreachable = {d.bind for d in report.databases if not d.reachable}
    missing = {
        (i.bind, i.schema, i.table, i.name)
        for i in report.items
        if i.kind is DriftKind.MISSING_COLUMN
    }
    missing_tables = {
        (i.bind, i.schema, i.table) for i in report.items if i.kind is DriftKind.MISSING_TABLE
    }
    with _lock:
        current = set(orm_degrade.degraded())
        if not current and not (degrade and missing):
            return []  # nothing degraded, nothing to degrade: no mapper is even looked at
        if not orm_degrade.install():
            return []
        wanted: dict[sa.Column[Any], orm_degrade.Holders] = {}
        seen: set[sa.Column[Any]] = set()
        for target in targets:
            if target.bind in unreachable:
                continue
            for mapper, key, column in _mapped_columns(set(target.tables)):
                seen.add(column)
                table = column.table
                where = (target.bind, table.schema, table.name)
                if degrade and (*where, column.name) in missing and where not in missing_tables:
                    wanted.setdefault(column, []).append((mapper, key))
        restore = [c for c in current if c in seen and c not in wanted]
        orm_degrade.apply(wanted, restore, (t.engine for t in targets))
        return degraded_columns()


def _mapped_columns(
    tables: set[sa.Table],
) -> Iterable[tuple[orm.Mapper[Any], str, sa.Column[Any]]]:
    """``(mapper, attribute key, column)`` for each plain column of ``tables`` a mapper maps,
    but those a mapper cannot do without (primary key, version counter, discriminator)."""
    for mapper in orm_internals.all_mappers():
        if not any(t in tables for t in mapper.tables):
            continue
        keep = {id(mapper.version_id_col), id(mapper.polymorphic_on)}
        for prop in mapper.column_attrs:
            columns = [c for c in prop.columns if isinstance(c, sa.Column)]
            if len(columns) != 1 or len(prop.columns) != 1:
                continue
            column = columns[0]
            if column.table in tables and not column.primary_key and id(column) not in keep:
                yield mapper, prop.key, column


def degraded_columns() -> list[str]:
    """``table.column`` of every degraded column, sorted."""
    return sorted(f"{c.table.name}.{c.name}" for c in orm_degrade.degraded())


def reset() -> None:
    """Restore every degraded column (between tests, or when the models go away)."""
    with _lock:
        current = orm_degrade.degraded()
        if current:
            orm_degrade.apply({}, current, ())

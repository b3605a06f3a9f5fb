"""After a check or heal: make the ORM match the database it really talks to.

- Pools are disposed and compiled-statement caches cleared after DDL, so no connection keeps
  a stale prepared statement or cached column list.
- A mapped column the database still lacks is *degraded*: the mapper loads ``NULL`` for it
  instead of selecting it (so ``select(Model)``, ``Query.count()`` and ``session.get`` work),
  inserts and updates leave it out, and assigning a value raises ``SchemaDriftError``. Once
  the column exists the original mapping is restored.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, orm

from .dialects import impl_for
from .engine.targets import Target
from .errors import SchemaDriftError
from .report import DriftKind, DriftReport

_lock = threading.RLock()
# (mapper, attribute key) -> (original property, column)
_degraded: dict[tuple[orm.Mapper[Any], str], tuple[orm.ColumnProperty[Any], sa.Column[Any]]] = {}


def dispose_engines(targets: Iterable[Target]) -> None:
    """Drop pooled connections and cached compiled statements of each engine."""
    for target in targets:
        engine = target.engine
        cache = getattr(engine, "_compiled_cache", None)
        if cache is not None:
            cache.clear()
        if impl_for(engine).keeps_data_in_pool(engine):
            continue  # an in-memory SQLite database lives in its pooled connection
        engine.dispose()


def clear_compiled_caches(targets: Iterable[Target]) -> None:
    for target in targets:
        cache = getattr(target.engine, "_compiled_cache", None)
        if cache is not None:
            cache.clear()


def sync_mappers(targets: Iterable[Target], report: DriftReport, *, degrade: bool) -> list[str]:
    """Degrade mapped columns the report says are missing; restore those now present.

    Returns ``table.column`` names degraded after the call.
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
    changed = False
    with _lock:
        for target in targets:
            if target.bind in unreachable:
                continue
            tables = set(target.tables)
            for mapper in _mappers_for(tables):
                table = mapper.local_table
                assert isinstance(table, sa.Table)
                for prop in list(mapper.column_attrs):
                    key = (mapper, prop.key)
                    column = _degraded[key][1] if key in _degraded else _single_column(prop)
                    if column is None or column.table is not table:
                        continue
                    wanted = (
                        degrade and (target.bind, table.schema, table.name, column.name) in missing
                    )
                    wanted = (
                        wanted and (target.bind, table.schema, table.name) not in missing_tables
                    )
                    if wanted and key not in _degraded:
                        _degrade(mapper, prop, column)
                        changed = True
                    elif not wanted and key in _degraded:
                        _restore(mapper, prop.key)
                        changed = True
        if changed:
            clear_compiled_caches(targets)
        return sorted(f"{m.local_table.name}.{k}" for (m, k) in _degraded)  # type: ignore[attr-defined]


def _single_column(prop: orm.ColumnProperty[Any]) -> sa.Column[Any] | None:
    columns = [c for c in prop.columns if isinstance(c, sa.Column)]
    return columns[0] if len(columns) == 1 else None


def _mappers_for(tables: set[sa.Table]) -> list[orm.Mapper[Any]]:
    from sqlalchemy.orm import mapperlib

    mappers = []
    for registry in list(mapperlib._all_registries()):
        for mapper in registry.mappers:
            if mapper.local_table in tables:
                mappers.append(mapper)
    return mappers


def _degrade(
    mapper: orm.Mapper[Any], prop: orm.ColumnProperty[Any], column: sa.Column[Any]
) -> None:
    key = prop.key
    _degraded[(mapper, key)] = (prop, column)
    placeholder = orm.column_property(sa.null().label(key))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapper.add_property(key, placeholder)
    mapper._columntoproperty.pop(column, None)
    for columns in mapper._cols_by_table.values():
        columns.discard(column)
    mapper._expire_memoizations()
    table_name = column.table.name

    def refuse(target: object, value: object, old: object, initiator: object) -> object:
        if value is None:
            return value
        raise SchemaDriftError(
            f"Cannot write {mapper.class_.__name__}.{key}: column '{table_name}.{column.name}' "
            "does not exist in the database (schema drift; run `flask schemaguard status`).",
            table=table_name,
            column=column.name,
        )

    event.listen(getattr(mapper.class_, key), "set", refuse, retval=True)


def _restore(mapper: orm.Mapper[Any], key: str) -> None:
    _original, column = _degraded.pop((mapper, key))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapper.add_property(key, orm.column_property(column))
    for table, columns in mapper._cols_by_table.items():
        if table is column.table:
            columns.add(column)
    mapper._expire_memoizations()


def degraded_columns() -> list[str]:
    with _lock:
        return sorted(f"{c.table.name}.{c.name}" for (_p, c) in _degraded.values())


def reset() -> None:
    """Restore every degraded mapper (between tests, or when the models go away)."""
    with _lock:
        for mapper, key in list(_degraded):
            _restore(mapper, key)

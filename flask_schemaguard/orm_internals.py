"""The SQLAlchemy internals that degrading a column touches, named in one place.

Each is looked up once, at import, without importing anything that may be absent: on a
SQLAlchemy version that lacks one of them :func:`unavailable` names it, degrading stays off
(logged once), and a request on a missing column gets the problem JSON (503) instead. Nothing
here raises ImportError.

- ``Mapper._cols_by_table``: the columns a flush writes, per table (read by the unit of work);
  a degraded column is taken out of it, copy-on-write, so a flush never writes it.
- ``Mapper._expire_memoizations()``: drops what the mapper derived from ``_cols_by_table``
  (the insert/update column sets, the persistence statement cache).
- ``sqlalchemy.orm.mapperlib._all_registries()``: every registry, to find the mappers of a table.
- ``Session._flushing``: true while a session flushes (a flush that ended without an event).
- ``Column._compiler_dispatch``: how a column compiles; wrapped once so that a degraded column
  renders as ``NULL`` in the statements that read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

try:
    from sqlalchemy.orm import mapperlib
except ImportError:  # pragma: no cover - depends on the SQLAlchemy version
    mapperlib = None  # type: ignore[assignment]

#: ``compiler_dispatch(column, compiler, **kw) -> str``: how SQLAlchemy compiles a Column.
Dispatch = Callable[..., str]

_missing: str | None = None


def unavailable() -> str:
    """The internals this SQLAlchemy lacks, comma-separated ('' when it has them all)."""
    global _missing
    if _missing is None:
        missing = []
        if not callable(getattr(orm.Mapper, "_expire_memoizations", None)):
            missing.append("Mapper._expire_memoizations")
        if "_cols_by_table" not in getattr(orm.Mapper, "__annotations__", {}):
            missing.append("Mapper._cols_by_table")
        if not hasattr(orm.Session(), "_flushing"):
            missing.append("Session._flushing")
        if not callable(getattr(sa.Column, "_compiler_dispatch", None)):
            missing.append("Column._compiler_dispatch")
        if mapperlib is None or not callable(getattr(mapperlib, "_all_registries", None)):
            missing.append("sqlalchemy.orm.mapperlib._all_registries")
        _missing = ", ".join(missing)
    return _missing


def all_mappers() -> list[orm.Mapper[Any]]:
    """Every mapper of every registry in the process."""
    if mapperlib is None:  # pragma: no cover - depends on the SQLAlchemy version
        return []
    found: list[orm.Mapper[Any]] = []
    for registry in list(mapperlib._all_registries()):
        found.extend(registry.mappers)
    return found


def written_columns(mapper: orm.Mapper[Any]) -> dict[Any, Any]:
    """``{table: ordered set of columns}`` a flush of ``mapper`` writes."""
    return mapper._cols_by_table


def set_written_columns(
    mapper: orm.Mapper[Any], table: Any, columns: Iterable[sa.Column[Any]]
) -> None:
    """Replace the columns a flush writes into ``table`` (a new dict and set: copy-on-write,
    so code iterating the old ones never sees them change), then drop what was derived."""
    current = written_columns(mapper)
    replaced = dict(current)
    replaced[table] = type(current[table])(columns)
    mapper._cols_by_table = replaced
    mapper._expire_memoizations()


def is_flushing(session: orm.Session) -> bool:
    """True while ``session`` is inside ``flush()``."""
    return bool(session._flushing)


def wrap_column_compiler(make: Callable[[Dispatch], Dispatch]) -> bool:
    """Replace ``Column._compiler_dispatch`` by ``make(original)`` (once); False if unknown."""
    original = getattr(sa.Column, "_compiler_dispatch", None)
    if not callable(original):
        return False
    sa.Column._compiler_dispatch = make(original)  # type: ignore[method-assign]
    return True

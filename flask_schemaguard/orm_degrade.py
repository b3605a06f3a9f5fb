"""Degraded columns: a mapped column the database lacks, kept out of the SQL the ORM sends.

While a column is degraded:

- every statement that reads it renders ``NULL`` in its place (typed where the database
  needs it), so ``select(Model)``, ``count()``, ``session.get``, filters, ``order_by``, joins
  and eager loads over it work and see NULL: a relationship joined on it loads as empty or
  ``None``;
- a flush never writes it, and its Python-side ``default=`` / ``onupdate=`` / ``Sequence``
  is not applied (the value is simply not written): inserts and updates, bulk ones too, work;
- assigning a value other than ``None`` (or its scalar default) to it, or through a
  relationship joined on it, raises ``SchemaDriftError``; so does a bulk insert/update that
  sets it.

The mapper's properties and attributes never change, only what is listed above; every change
runs through :data:`~.orm_gate.GATE`, so no flush or statement compile sees it half done.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, orm
from sqlalchemy.engine import Engine
from sqlalchemy.sql import visitors

from . import orm_internals
from .dialects import impl_for
from .engine.model_shapes import hold_default
from .errors import SchemaDriftError
from .orm_gate import GATE, listen

logger = logging.getLogger("flask_schemaguard")

#: Seconds a mapper change waits for the ORM work in progress before it gives up (and is
#: retried at the next check).
WRITE_TIMEOUT = 2.0

#: ``(mapper, attribute key)`` pairs that map a column.
Holders = list[tuple[orm.Mapper[Any], str]]


@dataclass(eq=False)
class _Degraded:
    column: sa.Column[Any]
    holders: Holders
    writers: list[tuple[orm.Mapper[Any], Any]]  # (mapper, table) whose flush wrote it
    default: Any
    onupdate: Any


_degraded: dict[sa.Column[Any], _Degraded] = {}
_nulls: frozenset[sa.Column[Any]] = frozenset()
#: mapper -> {attribute or column key: column}, for bulk statements and re-checks
_keys: dict[orm.Mapper[Any], dict[str, sa.Column[Any]]] = {}
#: relationship -> the degraded column it joins on
_blocked: dict[orm.RelationshipProperty[Any], sa.Column[Any]] = {}
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
#: class -> attribute keys whose writes are listened to (on that class and its subclasses)
_listened: weakref.WeakKeyDictionary[type, set[str]] = weakref.WeakKeyDictionary()
_install_lock = threading.Lock()
_installed: bool | None = None

#: Called inside each ORM statement's execution while a column is degraded (so it must not
#: block), with a function that tells whether the statement reads a degraded model: the
#: extension starts a re-check from it when one is due.
on_touch: Callable[[Callable[[], bool]], None] | None = None


def install() -> bool:
    """Hook the column compiler and the sessions (once); False when this SQLAlchemy lacks an
    internal it needs (then nothing is ever degraded: missing columns answer 503)."""
    global _installed
    with _install_lock:
        if _installed is None:
            missing = orm_internals.unavailable()
            if missing:
                logger.warning(
                    "schemaguard: this SQLAlchemy version lacks %s: model columns the database "
                    "lacks are not degraded (requests that use them answer 503)",
                    missing,
                )
                _installed = False
            else:
                _installed = orm_internals.wrap_column_compiler(_null_dispatch)
                listen(_on_execute)
        return _installed


def degraded() -> list[sa.Column[Any]]:
    return list(_degraded)


def apply(
    degrade: Mapping[sa.Column[Any], Holders],
    restore: Iterable[sa.Column[Any]],
    engines: Iterable[Engine],
) -> bool:
    """Degrade and restore columns in one change; False when the ORM stayed busy for
    ``WRITE_TIMEOUT`` seconds or this thread is inside a flush (nothing changed)."""
    restore = [c for c in restore if c in _degraded]
    degrade = {c: h for c, h in degrade.items() if c not in _degraded}
    _engines.update(engines)
    if not degrade and not restore:
        return True
    after = (set(_degraded) | set(degrade)) - set(restore)
    blocked = _relationships_over(after)  # configures mappers: before the gate, not inside
    newly_blocked = [p for p in blocked if p not in _blocked]
    writers = {c: _writers_of(c) for c in degrade}
    # the write listeners first: they ask whether the column is degraded, so a value set just
    # after the change is refused rather than silently left out
    for column, holders in degrade.items():
        for mapper, key in holders:
            _listen_column(mapper, key, column)
    for prop in newly_blocked:
        _listen_relationship(prop)

    def change() -> None:
        global _nulls, _keys, _blocked
        for column in restore:
            _restore(_degraded.pop(column))
        for column, holders in degrade.items():
            _degraded[column] = _degrade(column, holders, writers[column])
        _nulls = frozenset(_degraded)
        _keys = _keys_by_mapper()
        _blocked = blocked
        for engine in list(_engines):
            engine.clear_compiled_cache()

    if not GATE.write(change, WRITE_TIMEOUT):
        logger.warning(
            "schemaguard: the ORM stayed busy for %g s; degrading/restoring %s is retried at "
            "the next check",
            WRITE_TIMEOUT,
            ", ".join(_name(c) for c in [*degrade, *restore]),
        )
        return False
    for column in degrade:
        logger.info(
            "schemaguard: %s reads as NULL and is not written until it exists in the database",
            _name(column),
        )
    for column in restore:
        logger.info("schemaguard: %s exists in the database again: mapped as before", _name(column))
    for prop in newly_blocked:
        logger.warning(
            "schemaguard: %s loads as %s while column '%s' does not exist in the database; "
            "assigning to it raises SchemaDriftError",
            prop,
            "empty" if prop.uselist else "None",
            _name(blocked[prop]),
        )
    return True


# -- the change ---------------------------------------------------------------------------
def _degrade(
    column: sa.Column[Any], holders: Holders, writers: list[tuple[orm.Mapper[Any], Any]]
) -> _Degraded:
    record = _Degraded(column, holders, writers, column.default, column.onupdate)
    for mapper, table in writers:
        kept = [c for c in orm_internals.written_columns(mapper)[table] if c is not column]
        orm_internals.set_written_columns(mapper, table, kept)
    hold_default(column, column.default)  # checks and plans still see it (its sequence)
    column.default = None
    column.onupdate = None
    return record


def _restore(record: _Degraded) -> None:
    column = record.column
    column.default = record.default
    column.onupdate = record.onupdate
    hold_default(column, None)
    for mapper, table in record.writers:
        current = orm_internals.written_columns(mapper)[table]
        back = [c for c in table.columns if c is column or c in current]
        orm_internals.set_written_columns(mapper, table, back)


def _writers_of(column: sa.Column[Any]) -> list[tuple[orm.Mapper[Any], Any]]:
    found = []
    for mapper in orm_internals.all_mappers():
        for table, columns in orm_internals.written_columns(mapper).items():
            if column in columns:
                found.append((mapper, table))
    return found


def _keys_by_mapper() -> dict[orm.Mapper[Any], dict[str, sa.Column[Any]]]:
    keys: dict[orm.Mapper[Any], dict[str, sa.Column[Any]]] = {}
    for column, record in _degraded.items():
        for mapper, key in record.holders:
            keys.setdefault(mapper, {}).update({key: column, column.key: column})
    return keys


def _relationships_over(
    columns: set[sa.Column[Any]],
) -> dict[orm.RelationshipProperty[Any], sa.Column[Any]]:
    if not columns:
        return {}
    found: dict[orm.RelationshipProperty[Any], sa.Column[Any]] = {}
    for mapper in orm_internals.all_mappers():
        for prop in mapper.relationships:
            for clause in (prop.primaryjoin, prop.secondaryjoin):
                for element in visitors.iterate(clause) if clause is not None else ():
                    if isinstance(element, sa.Column) and element in columns:
                        found.setdefault(prop, element)
    return found


def _name(column: sa.Column[Any]) -> str:
    return f"{column.table.name}.{column.name}"


# -- while degraded -----------------------------------------------------------------------
def _null_dispatch(original: orm_internals.Dispatch) -> orm_internals.Dispatch:
    """``Column._compiler_dispatch`` that renders a degraded column as NULL wherever a query or
    DML statement reads it (never in DDL: an index on it is created as it is)."""

    def dispatch(column: sa.Column[Any], compiler: Any, **kw: Any) -> str:
        text = original(column, compiler, **kw)  # its result-map bookkeeping, always
        nulls = _nulls
        if not nulls:
            return text
        statement = compiler.statement
        if statement is None or not (
            getattr(statement, "is_select", False) or getattr(statement, "is_dml", False)
        ):
            return text
        if nulls.isdisjoint(column.proxy_set):
            return text
        dialect = compiler.dialect
        null = compiler.process(impl_for(dialect.name).degraded_null(column.type, dialect))
        if (
            kw.get("within_columns_clause")
            and not kw.get("within_label_clause")
            and kw.get("add_to_result_map") is not None
        ):
            return f"{null} AS {compiler.preparer.quote(column.name)}"
        return str(null)

    return dispatch


def _on_execute(state: orm.ORMExecuteState) -> None:
    """Before each ORM statement: refuse bulk writes of a degraded column; note the read."""
    keys = _keys
    if not keys:
        return
    mapper = state.bind_mapper
    if (state.is_insert or state.is_update) and mapper is not None and mapper in keys:
        columns = keys[mapper]
        parameters: Any = state.parameters
        rows: list[Mapping[str, Any]] = (
            list(parameters) if isinstance(parameters, (list, tuple)) else [parameters or {}]
        )
        for row in rows:
            for key, value in row.items():
                column = columns.get(key) if isinstance(key, str) else None
                if column is not None and not _unwritten(column, value):
                    raise _write_error(mapper.class_.__name__, key, column)
    touch = on_touch
    if touch is not None:
        touch(lambda: any(m in keys for m in state.all_mappers))


def _unwritten(column: sa.Column[Any], value: Any) -> bool:
    """Writing ``value`` changes nothing: None, or the column's own scalar default."""
    if value is None:
        return True
    record = _degraded.get(column)
    default = getattr(record.default, "arg", None) if record is not None else None
    if default is None or not getattr(record.default, "is_scalar", False):  # type: ignore[union-attr]
        return False
    try:
        return bool(value == default)
    except Exception:  # an odd type's comparison: not the default
        return False


def _write_error(model: str, key: str, column: sa.Column[Any], via: str = "") -> SchemaDriftError:
    where = f"column '{_name(column)}'"
    reason = f"it joins on {where}, which does not exist" if via else f"{where} does not exist"
    return SchemaDriftError(
        f"Cannot write {model}.{key}: {reason} in the database (schema drift; run "
        "`flask schemaguard status`).",
        table=column.table.name,
        column=column.name,
    )


def _listen_column(mapper: orm.Mapper[Any], key: str, column: sa.Column[Any]) -> None:
    """Refuse writes of ``mapper.class_.<key>`` while ``column`` is degraded (listened once,
    never removed: the listener asks whether the column is degraded now)."""
    attribute = _unlistened(mapper.class_, key)
    if attribute is None:
        return
    model = mapper.class_.__name__

    def refuse(target: Any, value: Any, old: Any, initiator: Any) -> Any:
        if column in _degraded and not _unwritten(column, value):
            raise _write_error(model, key, column)
        return value

    event.listen(attribute, "set", refuse, retval=True, propagate=True)


def _unlistened(cls: type, key: str) -> Any:
    """``cls.<key>`` unless it (or the same key of a base class) is listened to already."""
    if any(key in _listened.get(base, ()) for base in cls.__mro__):
        return None
    _listened.setdefault(cls, set()).add(key)
    return getattr(cls, key, None)


def _listen_relationship(prop: orm.RelationshipProperty[Any]) -> None:
    attribute = _unlistened(prop.parent.class_, prop.key)
    if attribute is None:
        return
    model = prop.parent.class_.__name__

    def refuse(target: Any, value: Any, *args: Any) -> Any:
        blocked = _blocked.get(prop)
        if blocked is not None and value is not None:
            # named after the attribute the app assigned (a backref may fire first)
            impl = getattr(args[-1], "impl", None) if args else None
            owner = getattr(getattr(impl, "class_", None), "__name__", model)
            raise _write_error(owner, getattr(impl, "key", prop.key), blocked, via="relationship")
        return value

    kind = "append" if prop.uselist else "set"
    event.listen(attribute, kind, refuse, retval=True, propagate=True)

"""The dialect layer: one ``DialectImpl`` per database, looked up by SQLAlchemy dialect name.

``impl_for(engine_or_connection_or_name)`` answers the class for ``sqlite``, ``postgresql``
and ``mysql`` (MariaDB too), each in its own module, imported on first use; any other
dialect gets the generic :class:`~.base.DialectImpl` (check works, heal uses SQLAlchemy's
DDL; untested). A new database is one module with a ``DialectImpl`` subclass, named in
``MODULES`` (or passed to :func:`register`), plus its test parametrisation.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from sqlalchemy.engine import URL, Connection, Dialect, Engine

from ..report import DriftKind
from .base import DialectImpl
from .driver_errors import SchemaError, driver_error

__all__ = ["DialectImpl", "SchemaError", "classify_error", "display_url", "impl_for", "register"]

#: Dialect name -> module (relative to this package) holding its ``DialectImpl`` subclass.
MODULES = {
    "sqlite": ".sqlite",
    "postgresql": ".postgresql",
    "mysql": ".mysql",
}

_impls: dict[str, DialectImpl] = {}
_lock = threading.Lock()
_GENERIC = DialectImpl()


def register(impl: DialectImpl) -> None:
    """Use ``impl`` for every engine whose dialect is named ``impl.name``."""
    with _lock:
        _impls[impl.name] = impl


def impl_for(where: Engine | Connection | Dialect | str) -> DialectImpl:
    """The implementation for a database (by engine, connection, dialect or dialect name)."""
    name = where if isinstance(where, str) else _dialect(where).name
    impl = _impls.get(name)
    if impl is not None:
        return impl
    module_name = MODULES.get(name)
    if module_name is None:
        return _GENERIC
    module = importlib.import_module(module_name, __name__)
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, DialectImpl)
            and value.name == name
            and value.__module__ == module.__name__
        ):
            register(value())
            return _impls[name]
    raise LookupError(f"{module.__name__} defines no DialectImpl named {name!r}")


def _dialect(where: Engine | Connection | Dialect) -> Dialect:
    if isinstance(where, (Engine, Connection)):
        return where.dialect
    return where


def display_url(where: Engine | URL) -> str:
    """The database URL as it may be shown: passwords masked, SQLite paths absolute."""
    url = where.url if isinstance(where, Engine) else where
    return impl_for(url.get_backend_name()).display_url(url)


def classify_error(exc: BaseException, hint: Any = None) -> SchemaError | None:
    """The missing table or column behind a database error, or None for any other error.

    The driver that raised it picks the dialect (``hint``, an engine or dialect name, is used
    when the error carries no driver exception); then every known dialect is asked, for an
    error known only by its text.
    """
    orig = driver_error(exc)
    candidates: list[DialectImpl] = []
    if orig is not None:
        driver = type(orig).__module__.split(".")[0]
        candidates = [i for i in _known() if driver in i.driver_modules]
    if not candidates and hint is not None:
        candidates = [impl_for(hint)]
    for impl in candidates or _known():
        found = impl.classify(exc)
        if found is not None and found.kind in (DriftKind.MISSING_TABLE, DriftKind.MISSING_COLUMN):
            return found
    return None


def _known() -> list[DialectImpl]:
    return [impl_for(name) for name in MODULES]

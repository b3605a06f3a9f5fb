"""``guard.heal()`` from code whose own session holds locks the heal would wait for.

After ORM reads, a request's ``db.session`` keeps its transaction open, and with it (on
PostgreSQL) a lock on every table it read: an ``ALTER TABLE`` on one of them from the heal's
own connection would wait ``SCHEMAGUARD_DDL_LOCK_TIMEOUT`` for the very request that asked
for it. That is refused at once, naming the tables and what to do.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_app_context

from .dialects import impl_for
from .errors import SchemaGuardError
from .state import GuardState


def refuse_waiting_on_itself(app: Flask, db: Any, state: GuardState) -> None:
    """Raise when this app context's session holds locks on a table the heal would alter."""
    if not has_app_context() or current_app._get_current_object() is not app:  # type: ignore[attr-defined]
        return
    db = db if db is not None else app.extensions.get("sqlalchemy")
    registry = getattr(getattr(db, "session", None), "registry", None)
    if registry is None or not registry.has():
        return
    transaction = registry().get_transaction()
    held: set[str] = set()
    for conn, *_rest in dict(getattr(transaction, "_connections", {}) or {}).values():
        tables = impl_for(conn).locked_tables(conn)
        held.update(tables or ())
    if not held:
        return
    model = {t.name for target in state.targets for t in target.tables}
    if not held & model:
        return
    blocked = sorted({op.table for op in state.runner.plan()} & held)
    if blocked:
        raise SchemaGuardError(
            "guard.heal() was called while this app context's database session (db.session) "
            f"holds locks on {', '.join(repr(t) for t in blocked)}, which the heal must alter: "
            "it would wait for itself. Call db.session.commit() or db.session.rollback() "
            "first."
        )

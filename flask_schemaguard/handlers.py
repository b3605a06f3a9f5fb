"""Error handlers: a request that hits a missing table or column gets problem JSON (503).

The session is rolled back first, so the next request on the thread works; in heal mode the
missing table/column is healed at once (at most once per target per 30 s per app).
Database errors that are not about a missing table or column go to the app's own handlers
for them, registered before or after the guard, found in Flask's order (``handler_chain``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, request

from . import handler_chain
from .dialects import SchemaError, classify_error
from .engine.targets import Target
from .errors import SchemaDriftError, SchemaGuardError
from .problem import problem_response
from .report import DriftKind
from .state import GuardState, get_state

logger = logging.getLogger("flask_schemaguard")

HEAL_ON_ERROR_INTERVAL = 30.0
HANDLED = (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.PendingRollbackError)


def register_error_handlers(app: Flask) -> None:
    handler_chain.install(app, dict.fromkeys(HANDLED, handle_database_error))
    if SchemaDriftError not in app.error_handler_spec[None][None]:  # the app's own wins
        app.register_error_handler(SchemaDriftError, handle_drift_error)


def handle_database_error(exc: Exception) -> Any:
    found = classify_error(exc)
    if found is None:
        return _delegate(exc)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = get_state(app)
    _rollback_session(state)
    healed = _heal_on_error(app, state, found)
    table = found.table
    if found.kind is DriftKind.MISSING_TABLE:
        detail = f"Table '{table}' does not exist in the database."
    else:
        where = f"{table}.{found.column}" if table else str(found.column)
        detail = f"Column '{where}' does not exist in the database."
    logger.warning(
        "schemaguard: request %s %s hit schema drift: %s", request.method, request.path, detail
    )
    return problem_response(
        detail=detail,
        drift=found.kind.value,
        table=table,
        column=found.column,
        healed=healed,
        sql=getattr(exc, "statement", None),
        origins=state.config.cors_origins,
        credentials=state.config.cors_credentials,
    )


def handle_drift_error(exc: SchemaDriftError) -> Response:
    """A write to a degraded column, or drift raised by the app or by strict mode."""
    state = get_state()
    _rollback_session(state)
    drift, table, column = DriftKind.MISSING_COLUMN.value, exc.table, exc.column
    if column is None:
        first = exc.report.errors[0] if exc.report is not None and exc.report.errors else None
        drift = first.kind.value if first is not None else "schema_drift"
        table = table or (first.table if first is not None else None)
        if first is not None and first.kind is DriftKind.MISSING_COLUMN:
            column = first.name
    return problem_response(
        detail=exc.message,
        drift=drift,
        table=table,
        column=column,
        healed=False,
        sql=None,
        origins=state.config.cors_origins,
        credentials=state.config.cors_credentials,
    )


def _delegate(exc: Exception) -> Any:
    """Hand a non-schema error to the app's own handler for it, or re-raise it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    handler = handler_chain.app_handler(app, exc, request.blueprints)
    if handler is None:
        raise exc
    return handler(exc)


def _rollback_session(state: GuardState) -> None:
    db = state.guard.db if state.guard.db is not None else current_app.extensions.get("sqlalchemy")
    session = getattr(db, "session", None)
    if session is None:
        return
    try:
        session.rollback()
    except Exception:  # a broken connection: drop the session altogether
        logger.exception("schemaguard: session rollback failed; removing the session")
        session.remove()


def _heal_on_error(app: Flask, state: GuardState, found: SchemaError) -> bool:
    """Heal the failing table (or its columns) now; True when it is no longer missing."""
    config = state.config
    if config.mode != "heal" or not config.heal_on_error or not found.table:
        return False
    match = _target_for(state, found.table)
    if match is None:
        return False
    target, table = match
    if state.runner.filter.excluded(table.schema, table.name):
        return False
    key = (target.bind, table.name)
    now = time.monotonic()
    with state.heal_on_error_lock:
        last = state.heal_on_error_times.get(key)
        if last is not None and now - last < HEAL_ON_ERROR_INTERVAL:
            return False
        state.heal_on_error_times[key] = now
        try:
            result = state.guard.heal_table(app, target.bind, table.name)
        except SchemaGuardError as exc:
            logger.warning("schemaguard: heal on error failed: %s", exc)
            return False
    if result.failed or not any(
        d.bind == target.bind and d.reachable for d in result.after.databases
    ):
        return False
    column = (found.column or "").lower()
    for item in result.after.items:
        if item.bind != target.bind or (item.table or "").lower() != table.name.lower():
            continue
        if item.kind is DriftKind.MISSING_TABLE:
            return False
        if item.kind is DriftKind.MISSING_COLUMN and (item.name or "").lower() == column:
            return False
    return not result.after.by_kind(DriftKind.PENDING_MIGRATIONS)


def _target_for(state: GuardState, table: str) -> tuple[Target, sa.Table] | None:
    """The bind and model table a database error names (case-insensitively)."""
    lowered = table.lower()
    for target in state.targets:
        for t in target.tables:
            if t.name.lower() == lowered:
                return target, t
    return None

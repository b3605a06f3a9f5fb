"""Error handlers: a request that hits a missing table or column gets problem JSON (503).

The session is rolled back first, so the next request on the thread works; in heal mode the
missing table/column is healed at once (at most once per target per 30 s per app).
Database errors that are not about a missing table or column go to the app's own handlers
for them, registered before or after the guard, found in Flask's order (``handler_chain``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, request

from . import handler_chain
from .dialects import SchemaError, classify_error
from .engine.heal import Only
from .engine.targets import Target
from .errors import SchemaDriftError, SchemaGuardError
from .problem import problem_response
from .report import DriftKind, HealResult
from .state import GuardState, get_state

logger = logging.getLogger("flask_schemaguard")

HEAL_ON_ERROR_INTERVAL = 30.0
#: Seconds the request whose error started a heal waits for it before answering.
HEAL_ON_ERROR_WAIT = 2.0
#: ``Retry-After`` (seconds) of a request that found a heal already running.
BUSY_RETRY_AFTER = 1
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
    outcome = _heal_on_error(app, state, found)
    healed = bool(outcome)
    table = found.table
    if found.kind is DriftKind.MISSING_TABLE:
        detail = f"Table '{table}' does not exist in the database."
    else:
        where = f"{table}.{found.column}" if table else str(found.column)
        detail = f"Column '{where}' does not exist in the database."
    logger.warning(
        "schemaguard: request %s %s hit schema drift: %s", request.method, request.path, detail
    )
    response = problem_response(
        detail=detail,
        drift=found.kind.value,
        table=table,
        column=found.column,
        healed=healed,
        sql=getattr(exc, "statement", None),
        origins=state.config.cors_origins,
        credentials=state.config.cors_credentials,
    )
    if outcome is None:  # a heal is running: come back shortly
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


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


def _heal_on_error(app: Flask, state: GuardState, found: SchemaError) -> bool | None:
    """Heal the failing table (or its columns); True when it is no longer missing, None when
    another heal was already running (the request then answers at once: nothing queues).

    The heal runs in a thread of its own; the request that started it waits for it at most
    ``HEAL_ON_ERROR_WAIT`` seconds.
    """
    config = state.config
    if config.mode != "heal" or not config.heal_on_error or not found.table:
        return False
    keys = {
        (target.bind, table.schema, table.name)
        for target, table in _targets_for(state, found.table)
        if not state.runner.filter.excluded(table.schema, table.name)
    }
    if not keys:
        return False
    now = time.monotonic()
    with state.heal_on_error_lock:  # held for the bookkeeping only, never for the heal
        running: _HealJob | None = state.heal_on_error_job
        if running is not None and not running.done.is_set():
            return None
        if all(now - state.heal_on_error_times.get(k, -1e9) < HEAL_ON_ERROR_INTERVAL for k in keys):
            return False
        for key in keys:
            state.heal_on_error_times[key] = now
        job = _HealJob(app, state, keys)
        state.heal_on_error_job = job
        job.start()
    if not job.done.wait(HEAL_ON_ERROR_WAIT) or job.result is None:
        return False
    result = job.result
    if result.failed or result.after.by_kind(DriftKind.PENDING_MIGRATIONS):
        return False
    binds = {b for b, _s, _t in keys}
    if not any(d.bind in binds and d.reachable for d in result.after.databases):
        return False
    column = (found.column or "").lower()
    for item in result.after.items:
        if (item.bind, item.schema, item.table) not in keys:
            continue
        if item.kind is DriftKind.MISSING_TABLE:
            return False
        if item.kind is DriftKind.MISSING_COLUMN and (item.name or "").lower() == column:
            return False
    return True


class _HealJob:
    """One heal on error, in a thread of its own (a request never runs one itself)."""

    def __init__(self, app: Flask, state: GuardState, keys: Only) -> None:
        self.app = app
        self.state = state
        self.keys = keys
        self.done = threading.Event()
        self.result: HealResult | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="schemaguard-heal", daemon=True).start()

    def _run(self) -> None:
        try:
            with self.app.app_context():
                self.result = self.state.guard.heal_tables(self.app, self.keys)
        except SchemaGuardError as exc:
            logger.warning("schemaguard: heal on error failed: %s", exc)
        except Exception:
            logger.exception("schemaguard: heal on error failed")
        finally:
            self.done.set()


def _targets_for(state: GuardState, table: str) -> list[tuple[Target, sa.Table]]:
    """Every bind and model table a database error may name (case-insensitively): the
    error does not say which bind or schema raised it."""
    lowered = table.lower()
    return [(t, m) for t in state.targets for m in t.tables if m.name.lower() == lowered]

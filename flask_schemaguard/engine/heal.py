"""One bind's heal: lock, diff again, apply each operation, audit it, record the state."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from ..dialects import DialectImpl, impl_for
from ..dialects.session import HealSession
from ..errors import SchemaGuardError
from ..report import Drift, Operation, OperationKind
from .audit_marks import note_revision, prune
from .compare import diff
from .fastpath import FastPath, utcnow
from .filters import TableFilter
from .outcomes import NOT_RETRIED, BindCheck, bind_in_sync, bind_name, info_of
from .owned_tables import audit_table
from .planner import Plan, make_plan
from .settings import Settings
from .targets import Target

logger = logging.getLogger("flask_schemaguard")

Only = set[tuple[str | None, str]]


@dataclass
class BindOutcome:
    applied: list[Operation] = field(default_factory=list)
    failed: list[tuple[Operation, str]] = field(default_factory=list)
    skipped: list[Drift] = field(default_factory=list)
    after: BindCheck | None = None
    #: A failure the next heal may not meet (a DDL lock timeout): never recorded.
    transient: bool = False


def plan_for(
    target: Target,
    items: list[Drift],
    enums: frozenset[tuple[str | None, str]],
    settings: Settings,
) -> Plan:
    return make_plan(
        items,
        target.tables_by_key,
        target.engine.dialect,
        allowed=settings.allowed_operations,
        existing_enums=enums,
        bind=target.bind,
    )


def only(items: list[Drift], targets: Only | None) -> list[Drift]:
    if targets is None:
        return items
    return [i for i in items if (i.bind, i.table or "") in targets]


class BindHealer:
    """Heals one bind; ``after_operation`` is called after each operation (tests hook it)."""

    def __init__(
        self,
        settings: Settings,
        table_filter: TableFilter,
        fast_path: FastPath,
        after_operation: Callable[[Operation], None],
    ) -> None:
        self.settings = settings
        self.filter = table_filter
        self.fast_path = fast_path
        self.after_operation = after_operation

    def heal(
        self, target: Target, targets: Only | None, *, retry_failed: bool = False
    ) -> BindOutcome:
        """Lock, diff again, apply, record: one transaction where the database has one."""
        settings = self.settings
        impl = impl_for(target.engine)
        with target.engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            session = impl.heal_session(conn, settings.lock_timeout, settings.ddl_lock_timeout)
            try:
                session.begin()
                outcome = self._heal_locked(session, impl, target, targets, retry_failed)
                session.commit()
            except BaseException:
                _quietly(session.rollback)
                _quietly(session.release)
                raise
            session.release()
        return outcome

    def _diff(
        self, session: HealSession, impl: DialectImpl, target: Target
    ) -> tuple[list[Drift], frozenset[tuple[str | None, str]]]:
        shape = impl.reflect(session.conn, target.schemas)
        items = diff(target.model, shape, bind=target.bind, excluded=self.filter.excluded)
        return items, shape.enums

    def _heal_locked(
        self,
        session: HealSession,
        impl: DialectImpl,
        target: Target,
        targets: Only | None,
        retry_failed: bool = False,
    ) -> BindOutcome:
        recorded = self.fast_path.recorded_in_lock(session.conn, target)
        if recorded is not None and not (retry_failed and recorded[2]):
            # a process we waited for has healed and recorded it (failures included)
            done, recorded_fp, failed = recorded
            after = BindCheck(done, info_of(target), recorded_fp, failed=failed)
            return BindOutcome(failed=[(op, e + NOT_RETRIED) for op, e in failed], after=after)
        items, enums = self._diff(session, impl, target)
        plan = plan_for(target, only(items, targets), enums, self.settings)
        outcome = BindOutcome(skipped=list(plan.skipped))
        if plan.operations and self.settings.audit_table:
            _ensure_owned(session, impl, audit_table(self.settings.audit_table))
            self._keep_audit_marks(session, target)
        not_created: set[tuple[str | None, str]] = set()
        for op in plan.operations:
            if (op.schema, op.table) in not_created:  # its indexes: say why, do not try
                error = f"not run: creating {_qualified(op)} failed"
                self._record(session, target, op, outcome, 0.0, error)
            elif not self._apply_one(session, impl, target, op, outcome):
                if op.kind is OperationKind.CREATE_TABLE:
                    not_created.add((op.schema, op.table))
        if outcome.applied:
            items, _ = self._diff(session, impl, target)
        fp: str | None = None
        settled = bind_in_sync(items) or (
            bool(outcome.failed) and not outcome.transient and targets is None
        )
        if settled and self.fast_path.records_state:
            # in sync, or what failed fails the same way until the schema or models change
            fp = self.fast_path.record(session, target, items, outcome.failed)
        outcome.after = BindCheck(items, info_of(target), fp)
        return outcome

    def _keep_audit_marks(self, session: HealSession, target: Target) -> None:
        """Note the Alembic revision (for ``revision --from-history``) and prune old rows."""
        settings = self.settings
        audit = settings.audit_table
        assert audit is not None
        conn = session.conn
        work: list[tuple[str, Callable[[], object]]] = []
        if settings.migrations_dir and settings.state_table:
            state = settings.state_table
            work.append(
                (
                    "note the Alembic revision",
                    lambda: note_revision(conn, state, audit, target.bind),
                )
            )
        if settings.audit_retention_days is not None:
            days = settings.audit_retention_days
            work.append(("prune the audit trail", lambda: prune(conn, audit, days)))
        for what, step in work:
            try:
                session.attempt(step)
            except sa.exc.DBAPIError as exc:  # bookkeeping only: the heal goes on
                if exc.connection_invalidated:
                    raise
                logger.warning(
                    "schemaguard: could not %s on %s: %s", what, bind_name(target), exc.orig
                )

    def _apply_one(
        self,
        session: HealSession,
        impl: DialectImpl,
        target: Target,
        op: Operation,
        outcome: BindOutcome,
    ) -> bool:
        """Run one operation in its savepoint and record it; True when it was applied."""
        started = time.perf_counter()
        error: str | None = None
        try:
            session.run(op.ddl)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            error = impl.error_message(exc)
            if impl.is_lock_timeout(exc):
                outcome.transient = True
                error += (
                    f" (waited SCHEMAGUARD_DDL_LOCK_TIMEOUT = {self.settings.ddl_lock_timeout:g} s"
                    " for a table lock held by another transaction; the next heal retries)"
                )
        duration = (time.perf_counter() - started) * 1000
        self._record(session, target, op, outcome, duration, error)
        self.after_operation(op)
        return error is None

    def _record(
        self,
        session: HealSession,
        target: Target,
        op: Operation,
        outcome: BindOutcome,
        duration: float,
        error: str | None,
    ) -> None:
        """Log an operation's outcome and write its audit row."""
        where = bind_name(target)
        if error is None:
            outcome.applied.append(op)
            logger.info("schemaguard: applied %s on %s (%.0f ms)", op.describe(), where, duration)
        else:
            outcome.failed.append((op, error))
            logger.warning("schemaguard: failed %s on %s: %s", op.describe(), where, error)
        if self.settings.audit_table:
            table = audit_table(self.settings.audit_table)
            session.conn.execute(
                table.insert().values(
                    created_at=utcnow(),
                    bind=target.bind,
                    operation=op.kind.value,
                    table_name=_qualified(op),
                    object_name=op.name,
                    ddl=op.sql,
                    outcome="applied" if error is None else "failed",
                    error=error,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    duration_ms=round(duration, 3),
                )
            )


def _ensure_owned(session: HealSession, impl: DialectImpl, table: sa.Table) -> None:
    """Create the audit table unless it exists; say which setting it is."""
    conn = session.conn
    if sa.inspect(conn).has_table(table.name):
        return
    try:
        conn.execute(CreateTable(table))
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        key = "SCHEMAGUARD_AUDIT_TABLE"
        raise SchemaGuardError(
            f"cannot create the guard's table {table.name!r} ({key}): "
            f"{impl.error_message(exc)}; nothing was changed where the database allows. Grant "
            f"the database user the right to create tables, or set {key} = None."
        ) from exc


def _quietly(fn: Callable[[], object]) -> None:
    """Clean-up after a failure: never let it hide the failure itself."""
    try:
        fn()
    except Exception:  # the connection may be gone; the pool discards it
        logger.debug("schemaguard: clean-up after a failed heal failed", exc_info=True)


def _qualified(op: Operation) -> str:
    return f"{op.schema}.{op.table}" if op.schema else op.table

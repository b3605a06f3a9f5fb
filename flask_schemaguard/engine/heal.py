"""One bind's heal: lock, diff again, apply each operation, audit it, record the state."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..dialects import DialectImpl, impl_for
from ..dialects.session import HealSession, NotRun
from ..report import Drift, DriftKind, LockLevel, Operation, OperationKind, Severity
from .audit import AuditTrail
from .audit_marks import note_revision, prune
from .compare import diff
from .fastpath import FastPath
from .filters import TableFilter
from .outcomes import NOT_RETRIED, BindCheck, bind_in_sync, bind_name, info_of
from .planner import Plan, make_plan
from .settings import Settings
from .targets import Target

logger = logging.getLogger("flask_schemaguard")

#: (bind, schema, table) to heal; None: everything.
Only = set[tuple[str | None, str | None, str]]


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
    conn: Connection | None = None,
) -> Plan:
    """The plan as this mode runs it: each operation's DDL and lock for
    ``SCHEMAGUARD_ONLINE_DDL``; with a connection, operations that would rewrite their table
    are marked so, and online left for a person (skipped, with the reason and the DDL)."""
    plan = make_plan(
        items,
        target.tables_by_key,
        target.engine.dialect,
        allowed=settings.allowed_operations,
        existing_enums=enums,
        bind=target.bind,
    )
    impl = impl_for(target.engine)
    online = settings.online_ddl
    # an index build a later table or column needs (a new table's foreign key over a unique
    # index) runs in the short transaction, the all-in-one way; the rest after it
    deferred = impl.deferred_kinds(online)
    split = deferred_from(plan.operations, deferred)
    dialect = target.engine.dialect
    ops = [
        impl.adapt(op, online and (position >= split or op.kind not in deferred), dialect)
        for position, op in enumerate(plan.operations)
    ]
    reasons = impl.rewrite_reasons(conn, ops) if conn is not None else {}
    if not reasons:
        return Plan(tuple(ops), plan.skipped)
    kept: list[Operation] = []
    skipped = list(plan.skipped)
    for position, op in enumerate(ops):
        reason = reasons.get(position)
        if reason is not None:
            op = dataclasses.replace(op, lock=LockLevel.REWRITES)
            if online:
                skipped.append(_left_for_a_person(op, reason, items))
                continue
        kept.append(op)
    return Plan(tuple(kept), tuple(skipped))


def deferred_from(ops: Sequence[Operation], deferred: Collection[object]) -> int:
    """Where the tail of ``ops`` that may run after the short transaction starts: the
    operations of ``deferred`` kinds with nothing after them that is not."""
    split = len(ops)
    while split > 0 and ops[split - 1].kind in deferred:
        split -= 1
    return split


def _left_for_a_person(op: Operation, reason: str, items: list[Drift]) -> Drift:
    hint = (
        f"not healed online: {reason} under an exclusive lock; run it by hand when the "
        f"table may be locked: {op.sql}"
    )
    for item in items:
        if (item.schema, item.table, item.name) == (op.schema, op.table, op.name):
            return dataclasses.replace(item, healable=False, hint=hint)
    return Drift(
        DriftKind.MISSING_COLUMN, op.table, op.name, Severity.ERROR, False, hint, op.bind, op.schema
    )


def only(items: list[Drift], targets: Only | None) -> list[Drift]:
    if targets is None:
        return items
    return [i for i in items if (i.bind, i.schema, i.table or "") in targets]


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
        self.audit = AuditTrail(settings.audit_table)

    def heal(
        self,
        target: Target,
        targets: Only | None,
        wait: bool = True,
        *,
        retry_failed: bool = False,
    ) -> BindOutcome:
        """Lock, diff again, apply, record: one transaction where the database has one (or,
        online, a short one for tables and columns, then each index outside it)."""
        settings = self.settings
        impl = impl_for(target.engine)
        with target.engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            session = impl.heal_session(
                conn,
                settings.lock_timeout if wait else 0.0,
                settings.ddl_lock_timeout,
                online=settings.online_ddl,
                index_timeout=settings.index_timeout,
            )
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
        self, session: HealSession, impl: DialectImpl, target: Target, *, fingerprint: bool
    ) -> tuple[list[Drift], frozenset[tuple[str | None, str]], str | None]:
        """The drift, the live enums and, with ``fingerprint``, a fingerprint never newer
        than the reflection (read before it, or from its very reads): the one to record with
        these items (see ``FastPath.record``)."""
        fp: str | None = None
        if fingerprint:
            shape, fp = impl.reflect_and_fingerprint(session.conn, target.schemas)
        else:
            shape = impl.reflect(session.conn, target.schemas)
        items = diff(target.model, shape, bind=target.bind, excluded=self.filter.excluded)
        return items, shape.enums, fp

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
        records = self.fast_path.records_state and self.fast_path.ensure_table(session, target)
        items, enums, seen = self._diff(session, impl, target, fingerprint=records)
        plan = plan_for(target, only(items, targets), enums, self.settings, session.conn)
        outcome = BindOutcome(skipped=list(plan.skipped))
        if plan.operations:
            self.audit.ensure(session, impl, target)
            if self.audit.is_on(target):
                self._keep_audit_marks(session, target)
        not_created: set[tuple[str | None, str]] = set()
        ops = plan.operations
        split = deferred_from(ops, session.deferred_kinds if session.phased else ())
        later = ops[split:]
        for op in ops[:split]:
            self._step(session, impl, target, op, outcome, not_created, inside=True)
        if session.phased:  # online: the short transaction ends before any index build
            session.commit()
            for op in later:
                self._step(session, impl, target, op, outcome, not_created, inside=False)
            session.reopen()
        if outcome.applied or (records and ops):
            # what the heal changed (its operations, even failed ones; the audit table)
            items, _, seen = self._diff(session, impl, target, fingerprint=records)
        fp: str | None = None
        settled = bind_in_sync(items) or (
            bool(outcome.failed) and not outcome.transient and targets is None
        )
        if settled and seen is not None:
            # in sync, or what failed fails the same way until the schema or models change
            fp = self.fast_path.record(session, target, items, seen, outcome.failed)
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

    def _step(
        self,
        session: HealSession,
        impl: DialectImpl,
        target: Target,
        op: Operation,
        outcome: BindOutcome,
        not_created: set[tuple[str | None, str]],
        inside: bool,
    ) -> None:
        if (op.schema, op.table) in not_created:  # its indexes: say why, do not try
            error = f"not run: creating {_qualified(op)} failed"
            self._record(session, target, op, outcome, 0.0, error, inside)
        elif not self._apply_one(session, impl, target, op, outcome, inside):
            if op.kind is OperationKind.CREATE_TABLE:
                not_created.add((op.schema, op.table))

    def _apply_one(
        self,
        session: HealSession,
        impl: DialectImpl,
        target: Target,
        op: Operation,
        outcome: BindOutcome,
        inside: bool,
    ) -> bool:
        """Run one operation (in its savepoint inside the transaction) and record it; True
        when it was applied."""
        started = time.perf_counter()
        error: str | None = None
        try:
            if inside:
                session.run(op.ddl)
            else:
                session.run_outside(op.ddl)
        except NotRun as exc:
            error = str(exc)
            outcome.transient = outcome.transient or exc.transient
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            error = impl.error_message(exc)
            if impl.is_lock_timeout(exc):
                outcome.transient = True
                error += (
                    f" (waited SCHEMAGUARD_DDL_LOCK_TIMEOUT = {self.settings.ddl_lock_timeout:g} s"
                    " for a table lock held by another transaction (another connection's, or"
                    " the caller's own open session); the next heal retries)"
                )
        duration = (time.perf_counter() - started) * 1000
        self._record(session, target, op, outcome, duration, error, inside)
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
        inside: bool,
    ) -> None:
        """Log an operation's outcome and write its audit row."""
        where = bind_name(target)
        if error is None:
            outcome.applied.append(op)
            logger.info("schemaguard: applied %s on %s (%.0f ms)", op.describe(), where, duration)
        else:
            outcome.failed.append((op, error))
            logger.warning("schemaguard: failed %s on %s: %s", op.describe(), where, error)
        self.audit.write(session, target, op, duration, error, inside)


def _quietly(fn: Callable[[], object]) -> None:
    """Clean-up after a failure: never let it hide the failure itself."""
    try:
        fn()
    except Exception:  # the connection may be gone; the pool discards it
        logger.debug("schemaguard: clean-up after a failed heal failed", exc_info=True)


def _qualified(op: Operation) -> str:
    return f"{op.schema}.{op.table}" if op.schema else op.table

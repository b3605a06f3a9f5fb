"""The pipeline over every bind: inspect -> diff -> plan -> apply -> report.

Framework-free: the Flask extension, the CLI and the tests all drive a :class:`Runner`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .diff import diff
from .errors import SchemaGuardError
from .fastreflect import reflect_and_fingerprint
from .fingerprint import fingerprint, fingerprint_and_state
from .locks import HealSession, LockTimeout, heal_session
from .masking import display_url
from .names import TableFilter
from .owned import audit_table, state_table
from .plan import ALL_OPERATIONS, Plan, make_plan, statements_of
from .reflect import reflect
from .report import (
    DatabaseInfo,
    Drift,
    DriftKind,
    DriftReport,
    HealResult,
    Operation,
    OperationKind,
    Severity,
)
from .targets import Target

logger = logging.getLogger("flask_schemaguard")


@dataclass(frozen=True)
class Settings:
    """What a check and a heal may look at and do (validated by ``config``)."""

    exclude_tables: tuple[str, ...] = ()
    allowed_operations: frozenset[str] = ALL_OPERATIONS
    lock_timeout: float = 30.0
    ddl_lock_timeout: float = 5.0
    audit_table: str | None = "schemaguard_events"
    state_table: str | None = "schemaguard_state"
    record_state_in_database: bool = True
    migrations_dir: str | None = None


@dataclass
class _BindCheck:
    items: list[Drift]
    info: DatabaseInfo
    fingerprint: str | None = None
    fast: bool = False
    table_names: set[str] = field(default_factory=set)
    enums: frozenset[tuple[str | None, str]] = frozenset()


class Runner:
    """Checks and heals a fixed set of targets with fixed settings."""

    def __init__(self, targets: Iterable[Target], settings: Settings | None = None) -> None:
        self.targets = list(targets)
        self.settings = settings or Settings()
        owned = [n for n in (self.settings.audit_table, self.settings.state_table) if n]
        self.filter = TableFilter(self.settings.exclude_tables, owned)
        if self.settings.migrations_dir:
            # a new migration script must defeat the fast path (pending_migrations)
            salt = _migrations_salt(self.settings.migrations_dir)
            for target in self.targets:
                target.hash_salt = salt
        self._memory: dict[tuple[str, str], tuple[str, str]] = {}
        self._memory_lock = threading.Lock()

    # -- check ---------------------------------------------------------------------------
    def check(self, *, fast: bool = True) -> DriftReport:
        """Compare every bind with its models (read-only)."""
        return self.check_with_fingerprints(fast=fast)[0]

    def check_with_fingerprints(
        self, *, fast: bool = True
    ) -> tuple[DriftReport, dict[str | None, str | None]]:
        """The report and each bind's schema fingerprint (None when unreachable)."""
        results = [self._check_bind(t, fast=fast) for t in self.targets]
        fingerprints = {t.bind: r.fingerprint for t, r in zip(self.targets, results, strict=True)}
        return _report(results), fingerprints

    def fingerprints(self) -> dict[str | None, str | None]:
        """The current schema fingerprint of each bind (None when unreachable)."""
        out: dict[str | None, str | None] = {}
        for target in self.targets:
            try:
                with target.engine.connect() as conn:
                    out[target.bind] = fingerprint(conn, target.schemas)
            except sa.exc.DBAPIError:
                out[target.bind] = None
        return out

    def _check_bind(self, target: Target, *, fast: bool) -> _BindCheck:
        info = _info(target)
        try:
            connection = target.engine.connect()
        except sa.exc.DBAPIError as exc:
            return _unreachable(target, exc)
        try:
            with connection as conn:
                if fast:
                    fp, recorded = self._fingerprint(conn, target, fast)
                    if recorded is not None and recorded[0] == fp:
                        return _BindCheck(_load_items(recorded[1]), info, fp, fast=True)
                    shape = reflect(conn, target.schemas)
                else:  # MariaDB: the fingerprint from the same catalog reads as the shape
                    shape, fp = reflect_and_fingerprint(conn, target.schemas)
                items = diff(target.model, shape, bind=target.bind, excluded=self.filter.excluded)
                names = {n for (_s, n) in shape.tables}
                pending = self._pending(conn, target, names)
                if pending is not None:
                    items.insert(0, pending)
                check = _BindCheck(items, info, fp, table_names=names, enums=shape.enums)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                return _unreachable(target, exc)
            raise SchemaGuardError(
                f"checking {_bind_name(target)} ({info.url}) failed: {_db_message(exc)}"
            ) from exc
        if _bind_in_sync(check.items) and not self.settings.record_state_in_database:
            self._remember(target, fp, check.items)
        return check

    def _fingerprint(
        self, conn: Connection, target: Target, fast: bool
    ) -> tuple[str, tuple[str, str] | None]:
        """The schema's fingerprint and, for the fast path, the last in-sync check recorded
        for these models (in memory in check mode; in the database in heal mode, read in the
        same round trip as the fingerprint)."""
        if fast:
            key = (_engine_key(target), target.models_hash)
            with self._memory_lock:
                remembered = self._memory.get(key)
            if remembered is not None:
                return fingerprint(conn, target.schemas), remembered
            if self._records_state():
                assert self.settings.state_table
                fp, recorded = fingerprint_and_state(
                    conn, target.schemas, self.settings.state_table, target.models_hash
                )
                if recorded is not None and recorded[0] == fp:
                    with self._memory_lock:  # later checks of this process: fingerprint only
                        self._memory[key] = recorded
                return fp, recorded
        return fingerprint(conn, target.schemas), None

    def _remember(self, target: Target, fp: str | None, items: list[Drift]) -> None:
        if fp is None:
            return
        with self._memory_lock:
            self._memory[(_engine_key(target), target.models_hash)] = (fp, _dump_items(items))

    def _pending(self, conn: Connection, target: Target, names: set[str]) -> Drift | None:
        if target.bind is not None or not self.settings.migrations_dir:
            return None
        from .migrations import pending_migrations

        return pending_migrations(conn, self.settings.migrations_dir, names, target.bind)

    # -- plan ----------------------------------------------------------------------------
    def plan(self) -> list[Operation]:
        """The operations a heal would run now (read-only)."""
        ops: list[Operation] = []
        for target in self.targets:
            check = self._check_bind(target, fast=False)
            if check.info.reachable and not _blocks_heal(check.items):
                ops.extend(self._plan(target, check.items, check.enums).operations)
        return ops

    def _plan(
        self, target: Target, items: list[Drift], enums: frozenset[tuple[str | None, str]]
    ) -> Plan:
        return make_plan(
            items,
            target.tables_by_key,
            target.engine.dialect,
            allowed=self.settings.allowed_operations,
            existing_enums=enums,
            bind=target.bind,
        )

    # -- heal ----------------------------------------------------------------------------
    def heal(
        self, *, dry_run: bool = False, only: set[tuple[str | None, str]] | None = None
    ) -> HealResult:
        """Apply every safe, allowed operation; ``only`` limits it to some tables."""
        applied: list[Operation] = []
        failed: list[tuple[Operation, str]] = []
        skipped: list[Drift] = []
        after: list[_BindCheck] = []
        for target in self.targets:
            check = self._check_bind(target, fast=True)
            if check.fast or not check.info.reachable:
                after.append(check)
                continue
            if _blocks_heal(check.items):
                skipped.extend(i for i in check.items if i.severity is not Severity.INFO)
                after.append(check)
                continue
            if dry_run:
                plan = self._plan(target, _only(check.items, only), check.enums)
                applied.extend(plan.operations)
                skipped.extend(plan.skipped)
                after.append(check)
                continue
            needs_work = any(i.healable for i in _only(check.items, only))
            if not needs_work and not (_bind_in_sync(check.items) and self._records_state()):
                skipped.extend(
                    i for i in check.items if i.severity is not Severity.INFO and not i.healable
                )
                after.append(check)
                continue
            try:
                outcome = self._heal_bind(target, only)
            except LockTimeout as exc:
                logger.warning("schemaguard: %s", exc)
                lock_item = Drift(
                    DriftKind.LOCK_TIMEOUT,
                    None,
                    None,
                    Severity.WARNING,
                    False,
                    str(exc),
                    target.bind,
                )
                after.append(_BindCheck([lock_item, *check.items], check.info, check.fingerprint))
                continue
            except sa.exc.DBAPIError as exc:
                if (
                    exc.connection_invalidated
                    or isinstance(exc, sa.exc.OperationalError)
                    and ("connect" in str(exc.orig).lower())
                ):
                    after.append(_unreachable(target, exc))
                    continue
                raise SchemaGuardError(
                    f"healing {_bind_name(target)} ({check.info.url}) failed and was rolled "
                    f"back where the database allows: {_db_message(exc)}"
                ) from exc
            applied.extend(outcome.applied)
            failed.extend(outcome.failed)
            skipped.extend(outcome.skipped)
            if outcome.after is not None:
                after.append(outcome.after)
        return HealResult(
            applied=tuple(applied),
            failed=tuple(failed),
            skipped=tuple(skipped),
            after=_report(after),
            dry_run=dry_run,
        )

    def _records_state(self) -> bool:
        return bool(self.settings.state_table and self.settings.record_state_in_database)

    def _heal_bind(self, target: Target, only: set[tuple[str | None, str]] | None) -> _BindOutcome:
        """Lock, diff again, apply, record: one bind, one transaction where there is one."""
        settings = self.settings
        with target.engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            session = heal_session(conn, settings.lock_timeout, settings.ddl_lock_timeout)
            try:
                session.begin()
                outcome = self._heal_locked(session, target, only)
                session.commit()
            except BaseException:
                _quietly(session.rollback)
                _quietly(session.release)
                raise
            session.release()
        return outcome

    def _heal_locked(
        self, session: HealSession, target: Target, only: set[tuple[str | None, str]] | None
    ) -> _BindOutcome:
        settings = self.settings
        conn = session.conn
        recorded = self._recorded_in_lock(conn, target)
        if recorded is not None:  # a process we waited for has healed and recorded it
            return _BindOutcome(after=_BindCheck(recorded[0], _info(target), recorded[1]))
        shape = reflect(conn, target.schemas)
        items = diff(target.model, shape, bind=target.bind, excluded=self.filter.excluded)
        plan = self._plan(target, _only(items, only), shape.enums)
        outcome = _BindOutcome(skipped=list(plan.skipped))
        if plan.operations and settings.audit_table:
            _ensure_owned(session, audit_table(settings.audit_table), "SCHEMAGUARD_AUDIT_TABLE")
        not_created: set[tuple[str | None, str]] = set()
        for op in plan.operations:
            if (op.schema, op.table) in not_created:  # its indexes: say why, do not try
                error = f"not run: creating {_qual(op)} failed"
                self._record(session, target, op, outcome, 0.0, error)
            elif not self._apply_one(session, target, op, outcome):
                if op.kind is OperationKind.CREATE_TABLE:
                    not_created.add((op.schema, op.table))
        if outcome.applied:
            shape = reflect(conn, target.schemas)
            items = diff(target.model, shape, bind=target.bind, excluded=self.filter.excluded)
        fp: str | None = None
        if _bind_in_sync(items) and self._records_state():
            fp = self._record_state(session, target, items)
        outcome.after = _BindCheck(items, _info(target), fp)
        return outcome

    def _recorded_in_lock(self, conn: Connection, target: Target) -> tuple[list[Drift], str] | None:
        """The recorded in-sync report, if the schema has not changed since it was recorded.

        ``has_table`` first: inside the heal transaction a failing statement would abort it.
        """
        if not self._records_state():
            return None
        assert self.settings.state_table
        if not sa.inspect(conn).has_table(self.settings.state_table):
            return None
        fp, recorded = fingerprint_and_state(
            conn, target.schemas, self.settings.state_table, target.models_hash
        )
        return (_load_items(recorded[1]), fp) if recorded and recorded[0] == fp else None

    def _record_state(self, session: HealSession, target: Target, items: list[Drift]) -> str | None:
        """Record an in-sync check for the fast path; a failure (say a read-only database
        user) only costs later starts their fast path, so it is logged, not raised."""
        assert self.settings.state_table
        table = state_table(self.settings.state_table)
        conn = session.conn
        recorded: list[str] = []

        def write() -> None:
            if not sa.inspect(conn).has_table(table.name):
                conn.exec_driver_sql(_create_sql(table, conn))
            fp = fingerprint(conn, target.schemas)
            conn.execute(table.delete().where(table.c.models_hash == target.models_hash))
            conn.execute(
                table.insert().values(
                    models_hash=target.models_hash,
                    fingerprint=fp,
                    items=_dump_items(items),
                    checked_at=_utcnow(),
                )
            )
            recorded.append(fp)

        try:
            session.attempt(write)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            logger.warning(
                "schemaguard: could not record the schema state in %s on %s (%s); every start "
                "will check the whole schema",
                table.name,
                _bind_name(target),
                _db_message(exc),
            )
            return None
        return recorded[0]

    def _apply_one(
        self, session: HealSession, target: Target, op: Operation, outcome: _BindOutcome
    ) -> bool:
        """Run one operation in its savepoint and record it; True when it was applied."""
        started = time.perf_counter()
        error: str | None = None
        try:
            session.run(statements_of(op))
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            error = _db_message(exc)
            if _is_lock_wait_timeout(exc):
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
        outcome: _BindOutcome,
        duration: float,
        error: str | None,
    ) -> None:
        """Log an operation's outcome and write its audit row."""
        if error is None:
            outcome.applied.append(op)
            logger.info(
                "schemaguard: applied %s on %s (%.0f ms)",
                op.describe(),
                _bind_name(target),
                duration,
            )
        else:
            outcome.failed.append((op, error))
            logger.warning(
                "schemaguard: failed %s on %s: %s", op.describe(), _bind_name(target), error
            )
        if self.settings.audit_table:
            table = audit_table(self.settings.audit_table)
            session.conn.execute(
                table.insert().values(
                    created_at=_utcnow(),
                    bind=target.bind,
                    operation=op.kind.value,
                    table_name=op.table,
                    object_name=op.name,
                    ddl=op.sql,
                    outcome="applied" if error is None else "failed",
                    error=error,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    duration_ms=round(duration, 3),
                )
            )

    def after_operation(self, op: Operation) -> None:
        """Called after each operation inside the heal transaction (a hook for tests)."""


@dataclass
class _BindOutcome:
    applied: list[Operation] = field(default_factory=list)
    failed: list[tuple[Operation, str]] = field(default_factory=list)
    skipped: list[Drift] = field(default_factory=list)
    after: _BindCheck | None = None


def _create_sql(table: sa.Table, conn: Connection) -> str:
    from sqlalchemy.schema import CreateTable

    return str(CreateTable(table).compile(dialect=conn.dialect))


def _ensure_owned(session: HealSession, table: sa.Table, key: str) -> None:
    """Create one of the guard's own tables unless it exists; say which setting it is."""
    conn = session.conn
    if sa.inspect(conn).has_table(table.name):
        return
    try:
        conn.exec_driver_sql(_create_sql(table, conn))
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        raise SchemaGuardError(
            f"cannot create the guard's table {table.name!r} ({key}): {_db_message(exc)}; "
            "nothing was changed where the database allows. Grant the database user the right "
            f"to create tables, or set {key} = None."
        ) from exc


def _quietly(fn: Callable[[], object]) -> None:
    """Clean-up after a failure: never let it hide the failure itself."""
    try:
        fn()
    except Exception:  # the connection may be gone; the pool discards it
        logger.debug("schemaguard: clean-up after a failed heal failed", exc_info=True)


def _qual(op: Operation) -> str:
    return f"{op.schema}.{op.table}" if op.schema else op.table


def _only(items: list[Drift], only: set[tuple[str | None, str]] | None) -> list[Drift]:
    if only is None:
        return items
    return [i for i in items if (i.bind, i.table or "") in only]


def _migrations_salt(directory: str) -> str:
    """Names and sizes of the migration scripts: changes whenever a revision is added."""
    versions = os.path.join(directory, "versions")
    try:
        entries = sorted(
            (e.name, e.stat().st_size) for e in os.scandir(versions) if e.name.endswith(".py")
        )
    except OSError:
        return "no-migrations"
    return repr(entries)


def _blocks_heal(items: list[Drift]) -> bool:
    return any(i.kind is DriftKind.PENDING_MIGRATIONS for i in items)


def _bind_in_sync(items: list[Drift]) -> bool:
    return not any(i.severity is not Severity.INFO for i in items)


def _report(checks: list[_BindCheck]) -> DriftReport:
    items: list[Drift] = []
    for c in checks:
        items.extend(c.items)
    return DriftReport(items=tuple(items), databases=tuple(c.info for c in checks))


def _info(target: Target) -> DatabaseInfo:
    return DatabaseInfo(target.bind, target.dialect, display_url(target.engine))


def _unreachable(target: Target, exc: sa.exc.DBAPIError) -> _BindCheck:
    message = _db_message(exc)
    logger.error("schemaguard: cannot reach database %s: %s", display_url(target.engine), message)
    info = DatabaseInfo(target.bind, target.dialect, display_url(target.engine), False, message)
    item = Drift(
        DriftKind.DATABASE_UNREACHABLE,
        None,
        None,
        Severity.ERROR,
        False,
        f"Cannot reach database {display_url(target.engine)}: {message}",
        target.bind,
    )
    return _BindCheck([item], info)


def _db_message(exc: sa.exc.DBAPIError) -> str:
    """The driver's message without SQL or parameters."""
    orig = exc.orig if exc.orig is not None else exc
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = f"{args[1]} (MySQL error {args[0]})".splitlines()  # PyMySQL: (code, message)
    else:
        text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def _is_lock_wait_timeout(exc: sa.exc.DBAPIError) -> bool:
    """PostgreSQL ``lock_timeout`` (55P03) or MySQL ``lock_wait_timeout`` (1205)."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "55P03":
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] == 1205


def _bind_name(target: Target) -> str:
    return "default bind" if target.bind is None else f"bind {target.bind!r}"


def _engine_key(target: Target) -> str:
    return f"{id(target.engine)}:{target.bind}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _dump_items(items: list[Drift]) -> str:
    return json.dumps([i.to_dict() for i in items], sort_keys=True)


def _load_items(text: str) -> list[Drift]:
    out = []
    for d in json.loads(text):
        out.append(
            Drift(
                kind=DriftKind(d["kind"]),
                table=d["table"],
                name=d["name"],
                severity=Severity(d["severity"]),
                healable=d["healable"],
                detail=d["detail"],
                bind=d["bind"],
                schema=d["schema"],
                hint=d.get("hint"),
            )
        )
    return out


__all__ = ["Runner", "Settings", "SchemaGuardError"]

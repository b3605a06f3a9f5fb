"""The pipeline over every bind: inspect -> diff -> plan -> apply -> report.

Framework-free: the Flask extension, the CLI and the tests all drive a :class:`Runner`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..dialects import impl_for
from ..dialects.session import LockTimeout
from ..errors import SchemaGuardError
from ..report import Drift, DriftReport, HealResult, Operation, Severity
from .compare import diff
from .fastpath import FastPath
from .filters import TableFilter
from .gc_pause import collector_paused
from .heal import BindHealer, BindOutcome, Only, only, plan_for
from .migrations import pending_migrations
from .outcomes import (
    NOT_RETRIED,
    BindCheck,
    bind_in_sync,
    bind_name,
    blocks_heal,
    db_message,
    info_of,
    load_state,
    lock_timeout_check,
    report_of,
    unreachable,
)
from .planner import Plan
from .settings import Settings
from .targets import Target, TargetSource

logger = logging.getLogger("flask_schemaguard")

T = TypeVar("T")

#: Bind names to limit a plan or heal to (None in it: the default bind); None: every bind.
Binds = Collection[str | None] | None


class Runner:
    """Checks and heals the targets (resolved at each call) with fixed settings."""

    def __init__(
        self, targets: Iterable[Target] | TargetSource, settings: Settings | None = None
    ) -> None:
        self.settings = settings or Settings()
        owned = [n for n in (self.settings.audit_table, self.settings.state_table) if n]
        self.filter = TableFilter(self.settings.exclude_tables, owned)
        salt = self.settings.check_key()
        if isinstance(targets, TargetSource):
            targets.salt = salt
            self.source = targets
        else:
            self.source = TargetSource.fixed(targets, salt)
        self.fast_path = FastPath(self.settings)
        self.healer = BindHealer(
            self.settings, self.filter, self.fast_path, lambda op: self.after_operation(op)
        )

    @property
    def targets(self) -> list[Target]:
        """The databases and their model tables as they are now."""
        return self.source.current()

    # -- check ---------------------------------------------------------------------------
    def check(self, *, fast: bool = True) -> DriftReport:
        """Compare every bind with its models (read-only)."""
        return self.check_with_fingerprints(fast=fast)[0]

    def check_with_fingerprints(
        self, *, fast: bool = True
    ) -> tuple[DriftReport, dict[str | None, str | None]]:
        """The report and each bind's schema fingerprint (None when unreachable)."""
        targets = self.targets
        results = [self._check_bind(t, fast=fast) for t in targets]
        fingerprints = {t.bind: r.fingerprint for t, r in zip(targets, results, strict=True)}
        return report_of(results), fingerprints

    def fingerprints(self) -> dict[str | None, str | None]:
        """The current schema fingerprint of each bind (None when unreachable)."""
        out: dict[str | None, str | None] = {}
        for target in self.targets:
            try:
                with target.engine.connect() as conn:
                    out[target.bind] = impl_for(conn).fingerprint(conn, target.schemas)
            except sa.exc.DBAPIError:
                out[target.bind] = None
        return out

    def check_target(self, target: Target, *, fast: bool = True) -> BindCheck:
        """One bind's check, with what a plan needs (its live enums)."""
        return self._check_bind(target, fast=fast)

    def _check_bind(self, target: Target, *, fast: bool) -> BindCheck:
        info = info_of(target)
        try:
            connection = target.engine.connect()
        except sa.exc.DBAPIError as exc:
            return unreachable(target, exc)
        try:
            with connection as conn:
                # after the first connection: the dialect learns there what the server has
                # (MariaDB's sequences, PostgreSQL's identifier length...), and the shape
                # depends on it
                with collector_paused():  # CPU only, computed once per target
                    if fast and self.fast_path.reads_state:
                        target.models_hash  # noqa: B018 - the models' shape and its hash
                    else:
                        target.model  # noqa: B018
                impl = impl_for(conn)
                fp: str | None = None
                if fast:
                    fp, recorded = self.fast_path.lookup(conn, target)
                    if recorded is not None and recorded[0] == fp:
                        items, failed = load_state(recorded[1])
                        return BindCheck(items, info, fp, fast=True, failed=failed)
                if fp is not None:
                    shape = impl.reflect(conn, target.schemas)
                else:  # a full check, or nothing recorded where the reads give the fingerprint
                    shape, fp = impl.reflect_and_fingerprint(conn, target.schemas)
                with collector_paused():
                    items = diff(
                        target.model, shape, bind=target.bind, excluded=self.filter.excluded
                    )
                names = {n for (_s, n) in shape.tables}
                pending = self._pending(conn, target, names)
                if pending is not None:
                    items.insert(0, pending)
                check = BindCheck(items, info, fp, table_names=names, enums=shape.enums)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                return unreachable(target, exc)
            raise SchemaGuardError(
                f"checking {bind_name(target)} ({info.url}) failed: {db_message(target, exc)}"
            ) from exc
        if bind_in_sync(check.items) and not self.settings.record_state_in_database:
            self.fast_path.remember(target, fp, check.items)
        return check

    def _pending(self, conn: Connection, target: Target, names: set[str]) -> Drift | None:
        if target.bind is not None or not self.settings.migrations_dir:
            return None
        return pending_migrations(conn, self.settings.migrations_dir, names, target.bind)

    def record(self, binds: Binds = None) -> tuple[DriftReport, dict[str | None, str]]:
        """A full check of each bind, recording in the database the state of each one in sync
        (what a heal-mode start does), so that every later process on these models and this
        schema, check mode included, answers with the fingerprint query alone.

        Writes the state table only (creating it when a bind is in sync and it is missing,
        then checking again: the new table changes the fingerprint). Returns the report and,
        per bind, what was done: ``"recorded"``, ``"drift"`` (a bind not in sync is never
        recorded), ``"changed"`` (the schema changed during the check), ``"unreachable"``.
        A write that fails (say a read-only user) raises :class:`SchemaGuardError` naming
        the table.
        """
        checks: list[BindCheck] = []
        outcome: dict[str | None, str] = {}
        for target in self._selected(binds):
            check = self._check_bind(target, fast=False)
            if check.info.reachable and bind_in_sync(check.items):
                if self._writing_state(target, check, self.fast_path.create_table):
                    check = self._check_bind(target, fast=False)
            checks.append(check)
            if not check.info.reachable or check.fingerprint is None:
                outcome[target.bind] = "unreachable"
            elif not bind_in_sync(check.items):
                outcome[target.bind] = "drift"
            else:
                write = partial(
                    self.fast_path.record_checked,
                    target=target,
                    fp=check.fingerprint,
                    items=check.items,
                )
                outcome[target.bind] = self._writing_state(target, check, write)
        return report_of(checks), outcome

    def _writing_state(self, target: Target, check: BindCheck, write: Callable[[Engine], T]) -> T:
        if not self.settings.state_table:
            raise SchemaGuardError("no state table to record in (state_table is None)")
        try:
            return write(target.engine)
        except sa.exc.DBAPIError as exc:
            raise SchemaGuardError(
                f"recording the schema state of {bind_name(target)} ({check.info.url}) in "
                f"table {self.settings.state_table!r} failed: {db_message(target, exc)}"
            ) from exc

    # -- plan ----------------------------------------------------------------------------
    def plan(self, binds: Binds = None) -> list[Operation]:
        """The operations a heal would run now (read-only)."""
        return list(self.plan_with_report(binds)[0].operations)

    def plan_with_skipped(self, binds: Binds = None) -> Plan:
        """The operations a heal would run now, and the drift it would leave (read-only)."""
        return self.plan_with_report(binds)[0]

    def plan_with_report(self, binds: Binds = None) -> tuple[Plan, DriftReport]:
        """The plan (each operation as this mode runs it, and the drift it leaves) and the
        report it comes from (read-only)."""
        ops: list[Operation] = []
        skipped: list[Drift] = []
        checks: list[BindCheck] = []
        for target in self._selected(binds):
            check = self._check_bind(target, fast=False)
            checks.append(check)
            if check.info.reachable and not blocks_heal(check.items):
                plan = self._plan_target(target, check.items, check.enums)
                ops.extend(plan.operations)
                skipped.extend(plan.skipped)
        return Plan(tuple(ops), tuple(skipped)), report_of(checks)

    def _plan_target(
        self, target: Target, items: list[Drift], enums: frozenset[tuple[str | None, str]]
    ) -> Plan:
        try:
            with target.engine.connect() as conn:
                return plan_for(target, items, enums, self.settings, conn)
        except sa.exc.DBAPIError:  # the check just reached it; plan without the catalog
            return plan_for(target, items, enums, self.settings)

    def _selected(self, binds: Binds) -> list[Target]:
        targets = self.targets
        return targets if binds is None else [t for t in targets if t.bind in binds]

    # -- heal ----------------------------------------------------------------------------
    def heal(
        self,
        *,
        dry_run: bool = False,
        only: Only | None = None,
        binds: Binds = None,
        retry_failed: bool = False,
        wait: bool = True,
    ) -> HealResult:
        """Apply every safe, allowed operation; ``only`` limits it to some tables, ``binds``
        to some binds (None: the default bind's name); without ``wait`` a heal lock held by
        another process is not waited for.

        An operation that failed on this very schema (and models) is reported failed and not
        run again, unless ``retry_failed`` (an explicit heal, a person's decision).
        """
        outcome = BindOutcome()
        after: list[BindCheck] = []
        for target in self._selected(binds):
            self._heal_target(target, dry_run, only, outcome, after, retry_failed, wait)
        return HealResult(
            applied=tuple(outcome.applied),
            failed=tuple(outcome.failed),
            skipped=tuple(outcome.skipped),
            after=report_of(after),
            dry_run=dry_run,
        )

    def _heal_target(
        self,
        target: Target,
        dry_run: bool,
        targets: Only | None,
        total: BindOutcome,
        after: list[BindCheck],
        retry_failed: bool = False,
        wait: bool = True,
    ) -> None:
        check = self._check_bind(target, fast=True)
        if check.fast and check.failed and (retry_failed or dry_run):
            check = self._check_bind(target, fast=False)
        if check.fast or not check.info.reachable:
            total.failed.extend((op, error + NOT_RETRIED) for op, error in check.failed)
            after.append(check)
            return
        if blocks_heal(check.items):
            total.skipped.extend(i for i in check.items if i.severity is not Severity.INFO)
            after.append(check)
            return
        if dry_run:
            plan = self._plan_target(target, only(check.items, targets), check.enums)
            total.applied.extend(plan.operations)
            total.skipped.extend(plan.skipped)
            after.append(check)
            return
        needs_work = any(i.healable for i in only(check.items, targets))
        if not needs_work and not (bind_in_sync(check.items) and self.fast_path.records_state):
            total.skipped.extend(
                i for i in check.items if i.severity is not Severity.INFO and not i.healable
            )
            after.append(check)
            return
        try:
            outcome = self.healer.heal(target, targets, wait=wait, retry_failed=retry_failed)
        except LockTimeout as exc:
            logger.warning("schemaguard: %s", exc)
            # what the schema is now (the holder may have healed it), not the stale check
            fresh = self._check_bind(target, fast=True)
            after.append(
                lock_timeout_check(target, fresh, str(exc)) if fresh.info.reachable else fresh
            )
            return
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated or (
                isinstance(exc, sa.exc.OperationalError) and "connect" in str(exc.orig).lower()
            ):
                after.append(unreachable(target, exc))
                return
            raise SchemaGuardError(
                f"healing {bind_name(target)} ({check.info.url}) failed and was rolled "
                f"back where the database allows: {db_message(target, exc)}"
            ) from exc
        total.applied.extend(outcome.applied)
        total.failed.extend(outcome.failed)
        total.skipped.extend(outcome.skipped)
        if outcome.after is not None:
            after.append(outcome.after)

    def after_operation(self, op: Operation) -> None:
        """Called after each operation inside the heal transaction (a hook for tests)."""


__all__ = ["Runner", "Settings", "SchemaGuardError"]

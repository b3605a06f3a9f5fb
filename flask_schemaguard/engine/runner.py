"""The pipeline over every bind: inspect -> diff -> plan -> apply -> report.

Framework-free: the Flask extension, the CLI and the tests all drive a :class:`Runner`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..dialects import impl_for
from ..dialects.session import LockTimeout
from ..errors import SchemaGuardError
from ..report import Drift, DriftReport, HealResult, Operation, Severity
from .compare import diff
from .fastpath import FastPath
from .filters import TableFilter
from .heal import BindHealer, BindOutcome, Only, only, plan_for
from .migrations import pending_migrations
from .outcomes import (
    BindCheck,
    bind_in_sync,
    bind_name,
    blocks_heal,
    db_message,
    info_of,
    load_items,
    lock_timeout_check,
    report_of,
    unreachable,
)
from .planner import Plan
from .settings import Settings
from .targets import Target, TargetSource

logger = logging.getLogger("flask_schemaguard")


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

    def _check_bind(self, target: Target, *, fast: bool) -> BindCheck:
        info = info_of(target)
        try:
            connection = target.engine.connect()
        except sa.exc.DBAPIError as exc:
            return unreachable(target, exc)
        try:
            with connection as conn:
                impl = impl_for(conn)
                if fast:
                    fp, recorded = self.fast_path.lookup(conn, target)
                    if recorded is not None and recorded[0] == fp:
                        return BindCheck(load_items(recorded[1]), info, fp, fast=True)
                    shape = impl.reflect(conn, target.schemas)
                else:  # MariaDB: the fingerprint from the same catalog reads as the shape
                    shape, fp = impl.reflect_and_fingerprint(conn, target.schemas)
                items = diff(target.model, shape, bind=target.bind, excluded=self.filter.excluded)
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

    # -- plan ----------------------------------------------------------------------------
    def plan(self) -> list[Operation]:
        """The operations a heal would run now (read-only)."""
        return list(self.plan_with_skipped().operations)

    def plan_with_skipped(self) -> Plan:
        """The operations a heal would run now, and the drift it would leave (read-only)."""
        ops: list[Operation] = []
        skipped: list[Drift] = []
        for target in self.targets:
            check = self._check_bind(target, fast=False)
            if check.info.reachable and not blocks_heal(check.items):
                plan = self._plan_target(target, check.items, check.enums)
                ops.extend(plan.operations)
                skipped.extend(plan.skipped)
        return Plan(tuple(ops), tuple(skipped))

    def _plan_target(
        self, target: Target, items: list[Drift], enums: frozenset[tuple[str | None, str]]
    ) -> Plan:
        try:
            with target.engine.connect() as conn:
                return plan_for(target, items, enums, self.settings, conn)
        except sa.exc.DBAPIError:  # the check just reached it; plan without the catalog
            return plan_for(target, items, enums, self.settings)

    # -- heal ----------------------------------------------------------------------------
    def heal(
        self, *, dry_run: bool = False, only: Only | None = None, wait: bool = True
    ) -> HealResult:
        """Apply every safe, allowed operation; ``only`` limits it to some tables; without
        ``wait`` a heal lock held by another process is not waited for."""
        outcome = BindOutcome()
        after: list[BindCheck] = []
        for target in self.targets:
            self._heal_target(target, dry_run, only, outcome, after, wait)
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
        wait: bool = True,
    ) -> None:
        check = self._check_bind(target, fast=True)
        if check.fast or not check.info.reachable:
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
            outcome = self.healer.heal(target, targets, wait=wait)
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

"""The Flask extension: wiring, per-app state and the startup check."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.engine import Engine

from . import orm_degrade, orm_refresh, recheck
from .alembic import register_with_flask_migrate
from .cli import schemaguard_cli
from .config import DEFAULTS, STATE_TABLE, Config, load_config
from .cors import register_preflight
from .engine.runner import Binds, Runner
from .engine.settings import Settings
from .engine.targets import TargetSource, TargetSpec, flask_sqlalchemy_specs, metadata_specs
from .errors import SchemaDriftError, SchemaGuardError
from .guard_tables import refuse_model_table_names
from .handlers import register_error_handlers
from .health import register_health
from .page_routes import register_pages
from .report import DriftKind, DriftReport, HealResult, Operation, Severity
from .selflock import refuse_waiting_on_itself
from .signals import drift_detected, heal_failed, schema_healed
from .state import ConfigErrorState, GuardState, get_state, state_of

logger = logging.getLogger("flask_schemaguard")

#: ``flask <command>`` runs that must not trigger the startup check.
SKIP_COMMANDS = frozenset({"db", "schemaguard"})

#: Seconds between retries of a startup check that could not reach the database.
STARTUP_RETRY_INTERVAL = 30.0
#: Seconds before a startup heal that lost the lock race looks again (without waiting).
LOCK_RETRY_INTERVAL = 1.0


class SchemaGuard:
    """Keep the app's database schema in step with its SQLAlchemy models.

    ``SchemaGuard(app)`` or, in an app factory, ``guard = SchemaGuard()`` then
    ``guard.init_app(app)``. The Flask-SQLAlchemy instance is found in
    ``app.extensions["sqlalchemy"]`` unless ``db=`` is given; for plain SQLAlchemy pass
    ``metadata=`` and ``engine=``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: Any = None,
        metadata: sa.MetaData | None = None,
        engine: Engine | None = None,
    ) -> None:
        if (metadata is None) != (engine is None):
            raise SchemaGuardError(
                "SchemaGuard(metadata=..., engine=...) needs both: the models' MetaData and the "
                "Engine of the database to check."
            )
        if db is not None and metadata is not None:
            raise SchemaGuardError("pass either db= or metadata=/engine=, not both")
        self.db = db
        self.metadata = metadata
        self.engine = engine
        if app is not None:
            self.init_app(app)

    # -- wiring --------------------------------------------------------------------------
    def init_app(self, app: Flask) -> None:
        """Read and validate config, register handlers, health and CLI, run the startup check."""
        if "schemaguard" in app.extensions:
            raise RuntimeError(
                "SchemaGuard is already registered on this app: call init_app(app) once per "
                "app, or use the existing guard from app.extensions['schemaguard'].guard."
            )
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        try:
            config = load_config(app.config)
        except SchemaGuardError as exc:
            if _running_command() != "schemaguard":
                raise
            # `flask schemaguard ...` reports it (exit 2) rather than failing to load the app
            app.extensions["schemaguard"] = ConfigErrorState(self, exc)
            app.cli.add_command(schemaguard_cli, name="schemaguard")
            return
        source = TargetSource(self._resolver(app))
        settings = Settings(
            exclude_tables=config.exclude_tables,
            allowed_operations=config.allowed_operations,
            lock_timeout=config.lock_timeout,
            ddl_lock_timeout=config.ddl_lock_timeout,
            online_ddl=config.online_ddl,
            index_timeout=config.index_timeout,
            audit_table=config.audit_table,
            state_table=STATE_TABLE,
            record_state_in_database=config.mode in ("heal", "strict"),
            migrations_dir=self._migrations_dir(app, config),
            audit_retention_days=config.audit_retention_days,
        )
        state = GuardState(guard=self, config=config, runner=Runner(source, settings))
        with app.app_context():
            refuse_model_table_names(state)
        app.extensions["schemaguard"] = state
        register_with_flask_migrate(app)  # autogenerate leaves the guard's tables alone

        if config.mode != "off" and config.degrade_missing_columns:
            orm_degrade.install()  # before any request: every mapper change is then gated
            orm_degrade.on_touch = recheck.touched
        if config.mode != "off" and config.error_handlers:
            register_error_handlers(app)
            if config.cors_origins:
                register_preflight(app)
        if config.mode != "off" and config.health_url:
            register_health(app, config.health_url)
        if config.mode != "off" and (config.error_handlers or config.health_url):
            register_pages(app)
        app.cli.add_command(schemaguard_cli, name="schemaguard")

        if config.mode == "off" or config.run_on == "manual" or _running_skipped_command():
            state.startup_done = True
            return
        # Runs the startup check for RUN_ON="first_request", and retries a startup check that
        # could not reach the database; a no-op once the startup check is done.
        app.before_request(self._before_first_request)
        if config.run_on == "init":
            with app.app_context():
                try:
                    self._startup(app, state)
                finally:
                    # fork safety: a gunicorn --preload / uWSGI master forks after this, and a
                    # pooled connection would then be shared by every worker
                    orm_refresh.dispose_engines(state.targets)

    def _resolver(self, app: Flask) -> Callable[[], list[TargetSpec]]:
        """What the runner calls at each check to find the binds and their model tables."""
        if self.metadata is not None and self.engine is not None:
            return metadata_specs(self.metadata, self.engine)
        db = self.db if self.db is not None else app.extensions.get("sqlalchemy")
        if db is None:
            raise SchemaGuardError(
                "SchemaGuard found no Flask-SQLAlchemy instance in app.extensions['sqlalchemy']: "
                "call db.init_app(app) before SchemaGuard(app), pass SchemaGuard(app, db=db), "
                "or use plain SQLAlchemy with SchemaGuard(app, metadata=..., engine=...)."
            )

        def resolve() -> list[TargetSpec]:
            if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
                return flask_sqlalchemy_specs(db)
            with app.app_context():  # a health probe's thread, say
                return flask_sqlalchemy_specs(db)

        return resolve

    @staticmethod
    def _migrations_dir(app: Flask, config: Config) -> str | None:
        if config.migrations_dir:
            return os.path.abspath(config.migrations_dir)
        directory = getattr(app.extensions.get("migrate"), "directory", None)
        return os.path.abspath(directory) if directory else None

    def _before_first_request(self) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        state = state_of(app)
        if state.startup_done:
            return
        if time.monotonic() < state.startup_retry_at and state.startup_error is None:
            return  # a database was unreachable: serve, retry later
        with state.startup_lock:  # concurrent first requests wait here for the one check
            if state.startup_done:
                return
            if time.monotonic() < state.startup_retry_at:
                if state.startup_error is not None:
                    raise state.startup_error  # strict: no serving while drift remains
                return
            self._startup(app, state)

    def _startup(self, app: Flask, state: GuardState) -> None:
        """The startup check (heal, check or strict); sets ``state.startup_done``.

        In ``heal`` and ``check`` modes nothing here stops the app: an unreachable database is
        logged and the check is retried on a request at most every ``STARTUP_RETRY_INTERVAL``
        seconds; any other failure is logged and sent as ``heal_failed``. ``strict`` raises:
        from ``init_app``, or (``RUN_ON="first_request"``) from every request until a check,
        again at most every ``STARTUP_RETRY_INTERVAL`` seconds, finds no error-level drift.
        """
        try:
            retry = self._run_startup(app, state)
        except SchemaGuardError as exc:
            state.startup_error = exc
            state.startup_retry_at = time.monotonic() + STARTUP_RETRY_INTERVAL
            raise
        state.startup_error = None
        state.startup_lock_lost = retry == "lock"
        if retry is None:
            state.startup_done = True
            return
        # lost the lock race: look again soon, without waiting for the lock, and heal
        # (or log the state the other process left) once it is free
        interval = LOCK_RETRY_INTERVAL if retry == "lock" else STARTUP_RETRY_INTERVAL
        state.startup_retry_at = time.monotonic() + interval
        logger.warning(
            "schemaguard: the startup check will be retried on a request in %g s", interval
        )

    def _run_startup(self, app: Flask, state: GuardState) -> str | None:
        """Check or heal; ``"unreachable"`` or ``"lock"`` (another process held the heal
        lock) when it should be retried later, else None."""
        mode = state.config.mode
        strict = mode == "strict"
        failed: tuple[tuple[Operation, str], ...] = ()
        try:
            if mode == "check":
                report = state.runner.check()
                self._after_check(app, state, report)
            else:
                result = self._heal(app, state, wait=not state.startup_lock_lost)
                self._after_heal(app, state, result)
                report = result.after
                failed = result.failed
        except SchemaGuardError as exc:
            if strict:
                raise
            logger.error("schemaguard: the startup check failed: %s", exc)
            heal_failed.send(app, result=None, error=str(exc))
            return None
        unreachable = [d for d in report.databases if not d.reachable]
        if strict:
            if unreachable:
                raise SchemaGuardError(
                    f"SCHEMAGUARD_MODE='strict': cannot reach database {unreachable[0].url}: "
                    f"{unreachable[0].error}"
                )
            remaining = [i for i in report.items if i.severity is Severity.ERROR]
            if remaining:
                cause = (
                    f" (first failure: {failed[0][0].describe()}: {failed[0][1]})" if failed else ""
                )
                raise SchemaDriftError(
                    f"SCHEMAGUARD_MODE='strict': {len(remaining)} error-level drift item(s) "
                    f"remain after healing{cause}",
                    report,
                )
            lock = report.by_kind(DriftKind.LOCK_TIMEOUT)
            if lock:
                raise SchemaGuardError(lock[0].detail)
        if unreachable:
            return "unreachable"
        return "lock" if report.by_kind(DriftKind.LOCK_TIMEOUT) else None

    # -- results -> logs, signals, ORM ---------------------------------------------------
    def _after_check(self, app: Flask, state: GuardState, report: DriftReport) -> None:
        state.last_report = report
        orm_refresh.sync_mappers(
            state.targets, report, degrade=state.config.degrade_missing_columns
        )
        recheck.checked(state)
        _log_items(report)
        _send_report_signals(app, report)
        logger.info("schemaguard: %s", _summary(report))

    def _after_heal(self, app: Flask, state: GuardState, result: HealResult) -> None:
        state.last_result = result
        if result.applied and not result.dry_run:
            orm_refresh.dispose_engines(state.targets)
            schema_healed.send(app, result=result)
        state.last_report = result.after
        orm_refresh.sync_mappers(
            state.targets, result.after, degrade=state.config.degrade_missing_columns
        )
        recheck.checked(state)
        _log_items(result.after)
        _send_report_signals(app, result.after, result)
        logger.info(
            "schemaguard: heal applied %d, failed %d, skipped %d; %s",
            len(result.applied),
            len(result.failed),
            len(result.skipped),
            _summary(result.after),
        )

    # -- public API ----------------------------------------------------------------------
    def check(self, app: Flask | None = None) -> DriftReport:
        """Compare the models with the database (read-only)."""
        app = self._app(app)
        state = state_of(app)
        with app.app_context():
            report = state.runner.check()
            self._after_check(app, state, report)
        return report

    def plan(self, app: Flask | None = None, *, binds: Binds = None) -> list[Operation]:
        """The operations a heal would run now (read-only); ``binds`` limits it to some."""
        app = self._app(app)
        with app.app_context():
            return state_of(app).runner.plan(binds)

    def heal(
        self, dry_run: bool = False, app: Flask | None = None, *, binds: Binds = None
    ) -> HealResult:
        """Heal safe drift now (in any mode but ``off``) and refresh the ORM; an operation
        that failed before on this schema is tried again (a startup would not).

        ``binds``: the bind names to heal (None in it for the default bind); default all.
        """
        app = self._app(app)
        state = state_of(app)
        if state.config.mode == "off":
            raise SchemaGuardError("SCHEMAGUARD_MODE='off': healing is switched off for this app")
        if not dry_run:
            refuse_waiting_on_itself(app, self.db, state)
        with app.app_context():
            if dry_run:
                return state.runner.heal(dry_run=True, binds=binds)
            result = self._heal(app, state, binds=binds, retry_failed=True)
            self._after_heal(app, state, result)
        return result

    def heal_table(
        self, app: Flask, bind: str | None, table: str, schema: str | None = None
    ) -> HealResult:
        """Heal one table (its columns and indexes, or the table itself)."""
        return self.heal_tables(app, {(bind, schema, table)})

    def heal_tables(self, app: Flask, keys: set[tuple[str | None, str | None, str]]) -> HealResult:
        """Heal these (bind, schema, table) only: used on errors."""
        state = state_of(app)
        result = self._heal(app, state, only=keys)
        self._after_heal(app, state, result)
        return result

    def _heal(
        self,
        app: Flask,
        state: GuardState,
        only: set[tuple[str | None, str | None, str]] | None = None,
        binds: Binds = None,
        retry_failed: bool = False,
        wait: bool = True,
    ) -> HealResult:
        """``runner.heal``; a heal that fails as a whole (the guard may not create its audit
        table, say) still leaves the app degraded where degrading applies: a read-only check
        says which columns are missing before the error goes on."""
        try:
            return state.runner.heal(only=only, binds=binds, retry_failed=retry_failed, wait=wait)
        except SchemaGuardError:
            if state.config.degrade_missing_columns:
                try:
                    report = state.runner.check()
                except SchemaGuardError as exc:
                    logger.warning("schemaguard: the check after a failed heal failed: %s", exc)
                else:
                    state.last_report = report
                    orm_refresh.sync_mappers(state.targets, report, degrade=True)
                    recheck.checked(state)
            raise

    def _app(self, app: Flask | None) -> Flask:
        if app is not None:
            return app
        if has_app_context():
            return current_app._get_current_object()  # type: ignore[attr-defined, no-any-return]
        raise RuntimeError(
            "No app given and no app context: call guard.check(app=app), or run inside "
            "app.app_context(). Did you forget init_app?"
        )


#: Items that say the check could not run, rather than that the schema drifted.
_NOT_DRIFT = (DriftKind.DATABASE_UNREACHABLE, DriftKind.LOCK_TIMEOUT)


def _log_items(report: DriftReport) -> None:
    """One WARNING line per unhealed warning/error item (with its hint)."""
    for item in report.items:
        if item.severity is not Severity.INFO and item.kind not in _NOT_DRIFT:
            logger.warning("schemaguard: %s%s", item.detail, f" ({item.hint})" if item.hint else "")


def _send_report_signals(app: Flask, report: DriftReport, result: HealResult | None = None) -> None:
    """``drift_detected`` for drift left over; ``heal_failed`` for failed operations or a
    check that could not run (unreachable database, lock timeout)."""
    if any(i.severity is not Severity.INFO and i.kind not in _NOT_DRIFT for i in report.items):
        drift_detected.send(app, report=report)
    problems = [f"{op.describe()}: {error}" for op, error in (result.failed if result else ())]
    problems.extend(i.detail for i in report.items if i.kind in _NOT_DRIFT)
    if problems:
        heal_failed.send(app, result=result, error="; ".join(problems))


def _summary(report: DriftReport) -> str:
    if not report.items:
        return "schema in sync"
    counts: dict[str, int] = {}
    for item in report.items:
        counts[item.severity.value] = counts.get(item.severity.value, 0) + 1
    state = "in sync" if report.in_sync else "drift remains"
    plural = {"error": "errors", "warning": "warnings", "info": "info"}
    parts = (f"{n} {s if n == 1 else plural[s]}" for s, n in sorted(counts.items()))
    return f"{state} ({', '.join(parts)})"


def _running_skipped_command() -> bool:
    """True under ``flask db ...`` or ``flask schemaguard ...``."""
    return _running_command() in SKIP_COMMANDS


def _running_command() -> str | None:
    """The ``flask`` subcommand this process runs (``db``, ``run``...), or None."""
    argv = sys.argv
    if not argv:
        return None
    program = os.path.splitext(os.path.basename(argv[0]))[0].lower()
    if program != "flask" and not argv[0].endswith(os.path.join("flask", "__main__.py")):
        return None
    takes_value = {"--app", "-A", "--env-file", "-e"}
    args = iter(argv[1:])
    for arg in args:
        if arg in takes_value:
            next(args, None)
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


__all__ = ["ConfigErrorState", "GuardState", "SchemaGuard", "get_state"]

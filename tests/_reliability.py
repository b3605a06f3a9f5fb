"""Shared by the reliability tests and ``bench/stress.py``: the seed-000 models, the drifted
database they start from, a clean reset, and the worker that starts an app in a child process.

Seed 000 is a real bug report: a ``step_execution_logs`` table (21 columns, 3 foreign keys,
9 indexes) that the production database never got. On top of it the older database here also
lacks one column (``sessions.archived_at``) and one index (``ix_flow_steps_position``).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import sqlalchemy as sa

OWNED_TABLES = ("schemaguard_events", "schemaguard_state")

MISSING_COLUMN = ("sessions", "archived_at")
MISSING_INDEX = ("flow_steps", "ix_flow_steps_position")
SEED_TABLE = "step_execution_logs"
SEED_INDEXES = (
    "idx_step_logs_created_at",
    "idx_step_logs_duration",
    "idx_step_logs_parent_log",
    "idx_step_logs_result_type",
    "idx_step_logs_round_loop",
    "idx_step_logs_session_execution_order",
    "idx_step_logs_session_status_execution",
    "idx_step_logs_status",
    "idx_step_logs_step_id",
)


def seed_metadata() -> sa.MetaData:
    """The models of the seed-000 app (what the code expects)."""
    md = sa.MetaData()
    sa.Table(
        "sessions",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("archived_at", sa.DateTime, nullable=True),
    )
    sa.Table(
        "flow_steps",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Index("ix_flow_steps_position", "position"),
    )
    sa.Table(
        SEED_TABLE,
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("step_id", sa.Integer, sa.ForeignKey("flow_steps.id"), nullable=False),
        sa.Column("parent_log_id", sa.Integer, sa.ForeignKey("step_execution_logs.id")),
        sa.Column("execution_order", sa.Integer, nullable=False),
        sa.Column("round_index", sa.Integer, nullable=False, server_default="0"),
        sa.Column("loop_iteration", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempt_count", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("result_type", sa.String(50)),
        sa.Column("result_data", sa.Text),
        sa.Column("condition_evaluation", sa.Text),
        sa.Column("loop_check_result", sa.Text),
        sa.Column("error_message", sa.Text),
        sa.Column("duration_ms", sa.Integer),
        sa.Column("memory_usage_mb", sa.Float),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("completed_at", sa.DateTime),
        sa.Column("step_snapshot", sa.Text),
        sa.Column("context_snapshot", sa.Text),
        sa.Index("idx_step_logs_session_execution_order", "session_id", "execution_order"),
        sa.Index("idx_step_logs_step_id", "step_id"),
        sa.Index("idx_step_logs_status", "status"),
        sa.Index("idx_step_logs_parent_log", "parent_log_id"),
        sa.Index("idx_step_logs_round_loop", "round_index", "loop_iteration"),
        sa.Index("idx_step_logs_created_at", "created_at"),
        sa.Index("idx_step_logs_duration", "duration_ms"),
        sa.Index("idx_step_logs_result_type", "result_type"),
        sa.Index(
            "idx_step_logs_session_status_execution", "session_id", "status", "execution_order"
        ),
    )
    return md


def old_metadata() -> sa.MetaData:
    """The database as production has it: no seed table, no column, no index."""
    md = sa.MetaData()
    sa.Table(
        "sessions",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "flow_steps",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    return md


#: Every operation a heal of the drifted database runs, as audit keys (operation, table, object).
EXPECTED_OPERATIONS = frozenset(
    {("create_table", SEED_TABLE, None)}
    | {("create_index", SEED_TABLE, name) for name in SEED_INDEXES}
    | {("add_column", *MISSING_COLUMN), ("create_index", *MISSING_INDEX)}
)


def drop_everything(engine: sa.Engine) -> None:
    """Drop every table of the database (FKs first on MySQL/PostgreSQL)."""
    with engine.begin() as conn:
        reflected = sa.MetaData()
        reflected.reflect(conn)
        if conn.dialect.name == "mysql":
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            for table in reflected.tables.values():
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{table.name}`")
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
        elif conn.dialect.name == "postgresql":
            for table in reflected.tables.values():
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}" CASCADE')
        else:
            reflected.drop_all(conn)


def make_drifted(url: str) -> None:
    """Reset the database at ``url`` to the seed-000 drift, with a few rows in it."""
    engine = sa.create_engine(url)
    try:
        drop_everything(engine)
        md = old_metadata()
        md.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                md.tables["sessions"].insert(),
                [{"id": i, "name": f"session {i}", "created_at": _now()} for i in range(1, 6)],
            )
            conn.execute(
                md.tables["flow_steps"].insert(),
                [{"id": i, "name": f"step {i}", "position": i} for i in range(1, 4)],
            )
    finally:
        engine.dispose()


def _now() -> Any:
    import datetime

    return datetime.datetime(2025, 12, 11, 9, 0, 0)


def audit_rows(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("schemaguard_events"):
                return []
            result = conn.exec_driver_sql(
                "SELECT operation, table_name, object_name, outcome, error, pid, host, ddl "
                "FROM schemaguard_events ORDER BY id"
            )
            return [dict(r._mapping) for r in result]
    finally:
        engine.dispose()


def count_duplicates(rows: list[dict[str, Any]]) -> tuple[int, int, set[Any]]:
    """(applied rows beyond one per operation, failed rows, operations never applied)."""
    seen: dict[tuple[Any, ...], int] = {}
    failed = 0
    for row in rows:
        if row["outcome"] == "failed":
            failed += 1
            continue
        key = (row["operation"], row["table_name"], row["object_name"])
        seen[key] = seen.get(key, 0) + 1
    duplicates = sum(n - 1 for n in seen.values())
    return duplicates, failed, set(EXPECTED_OPERATIONS) - set(seen)


# -- the child process -----------------------------------------------------------------------
_barrier: Any = None


def init_worker(barrier: Any) -> None:
    """Pool initializer: keep the shared barrier (it can only be inherited, not pickled)."""
    global _barrier
    _barrier = barrier


def start_app(url: str, config: dict[str, Any] | None = None, wait: bool = True) -> dict[str, Any]:
    """In a child process: wait for the others, start an app with SchemaGuard, report back.

    Never raises: an exception is returned as text, so the parent can count it.
    """
    out: dict[str, Any] = {"pid": os.getpid(), "error": None, "warnings": []}
    engine = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            from flask import Flask

            from flask_schemaguard import SchemaGuard

            engine = sa.create_engine(url)
            app = Flask(f"race_{os.getpid()}")
            app.config.update(config or {})
            if wait:
                _barrier.wait(timeout=60)
            started = time.perf_counter()
            guard = SchemaGuard(app, metadata=seed_metadata(), engine=engine)
            out["startup_s"] = time.perf_counter() - started
            state = app.extensions["schemaguard"]
            result = state.last_result
            out["applied"] = [
                (op.kind.value, op.table, op.name) for op in (result.applied if result else ())
            ]
            out["failed"] = [
                (op.kind.value, op.table, op.name, err)
                for op, err in (result.failed if result else ())
            ]
            out["report"] = state.last_report.to_dict() if state.last_report else None
            out["after_in_sync"] = guard.check(app=app).in_sync
        except BaseException as exc:  # reported to the parent
            import traceback

            out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        finally:
            if engine is not None:
                engine.dispose()
    out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


def warm_up(_: object = None) -> int:
    """In a child process: import everything a start needs, then wait for the others."""
    import flask  # noqa: F401

    import flask_schemaguard  # noqa: F401

    _barrier.wait(timeout=120)
    return os.getpid()


def dump_rows(url: str, tables: tuple[str, ...] = ("sessions", "flow_steps")) -> dict[str, Any]:
    """Every row of the seed app's old tables (old columns only), in id order."""
    engine = sa.create_engine(url)
    try:
        old = old_metadata()
        with engine.connect() as conn:
            return {
                name: [tuple(r) for r in conn.execute(sa.select(old.tables[name]).order_by("id"))]
                for name in tables
            }
    finally:
        engine.dispose()


def schema_snapshot(url: str) -> dict[str, Any]:
    """Tables with their columns and index names, as the database reports them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                name: (
                    sorted(c["name"] for c in inspector.get_columns(name)),
                    sorted(str(i["name"]) for i in inspector.get_indexes(name)),
                )
                for name in inspector.get_table_names()
            }
    finally:
        engine.dispose()


class HangingRunner:
    """Mixed into the guard's Runner in a child process: after operation ``hang_after`` it
    tells the parent (an Event) and blocks, in the middle of the heal, until it is killed."""

    hang_after = 1
    signal: Any = None
    done = 0

    def after_operation(self, op: Any) -> None:
        self.done += 1
        if self.done == self.hang_after:
            self.signal.set()
            time.sleep(600)


def heal_and_hang(url: str, signal: Any, hang_after: int, online: bool = True) -> None:
    """Child process: start an app (manual), then heal with a runner that hangs mid-plan."""
    from flask import Flask

    from flask_schemaguard import SchemaGuard

    engine = sa.create_engine(url)
    app = Flask("crash")
    app.config["SCHEMAGUARD_RUN_ON"] = "manual"
    app.config["SCHEMAGUARD_ONLINE_DDL"] = online
    guard = SchemaGuard(app, metadata=seed_metadata(), engine=engine)
    runner = app.extensions["schemaguard"].runner
    runner.__class__ = type("Hanging", (HangingRunner, type(runner)), {})
    runner.hang_after = hang_after
    runner.signal = signal
    guard.heal(app=app)
    raise AssertionError("the heal should have hung and been killed")

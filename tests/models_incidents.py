"""Models of the real incidents in ``../shared/seeds`` and small helpers the engine tests share.

Every ``build_*`` function defines fresh mapped classes on the declarative base it is given
(``db.Model`` of a Flask-SQLAlchemy instance, or a new :func:`plain_base`), so each test owns
its mappers and the guard's mapper refresh in one test never leaks into another.

- Seeds 000-002: ``StepExecutionLog`` (table ``step_execution_logs``: 21 columns including the
  id, foreign keys to ``sessions`` and ``flow_steps`` and to itself, 9 named indexes, three of
  them composite) was added to the models after the database had been created.
- Seed 004: ``Run`` (table ``crucible_runs``) gained a nullable ``chat_session_id`` column that
  the live database did not have.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

#: The nine named indexes of ``step_execution_logs`` (seed 000) and their columns.
STEP_LOG_INDEXES: dict[str, tuple[str, ...]] = {
    "idx_step_logs_session_execution_order": ("session_id", "execution_order"),
    "idx_step_logs_step_id": ("step_id",),
    "idx_step_logs_status": ("status",),
    "idx_step_logs_parent_log": ("parent_log_id",),
    "idx_step_logs_round_loop": ("round_index", "loop_iteration"),
    "idx_step_logs_created_at": ("created_at",),
    "idx_step_logs_duration": ("duration_ms",),
    "idx_step_logs_result_type": ("result_type",),
    "idx_step_logs_session_status_execution": ("session_id", "status", "execution_order"),
}

#: The columns of ``step_execution_logs`` in the order of seed 000's "Test Case 2".
STEP_LOG_COLUMNS = (
    "id",
    "session_id",
    "step_id",
    "parent_log_id",
    "execution_order",
    "round_index",
    "loop_iteration",
    "attempt_count",
    "status",
    "result_type",
    "result_data",
    "condition_evaluation",
    "loop_check_result",
    "error_message",
    "duration_ms",
    "memory_usage_mb",
    "created_at",
    "started_at",
    "completed_at",
    "step_snapshot",
    "context_snapshot",
)

#: (constrained columns, referred table, referred columns) of its three foreign keys.
STEP_LOG_FOREIGN_KEYS = {
    (("session_id",), "sessions", ("id",)),
    (("step_id",), "flow_steps", ("id",)),
    (("parent_log_id",), "step_execution_logs", ("id",)),
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def plain_base() -> type[orm.DeclarativeBase]:
    """A new declarative base with its own ``MetaData`` (plain SQLAlchemy)."""

    class Base(orm.DeclarativeBase):
        pass

    return Base


def build_flow_models(base: Any) -> SimpleNamespace:
    """``Session``, ``FlowStep`` and ``StepExecutionLog`` (seed 001's model) on ``base``."""

    class Session(base):  # type: ignore[misc, valid-type]
        __tablename__ = "sessions"
        id = sa.Column(sa.Integer, primary_key=True)
        topic = sa.Column(sa.String(200), nullable=False)
        mode = sa.Column(sa.String(20), nullable=False, server_default="manual")
        created_at = sa.Column(sa.DateTime, nullable=False)

    class FlowStep(base):  # type: ignore[misc, valid-type]
        __tablename__ = "flow_steps"
        id = sa.Column(sa.Integer, primary_key=True)
        flow_name = sa.Column(sa.String(100), nullable=False)
        step_order = sa.Column(sa.Integer, nullable=False)
        description = sa.Column(sa.Text)

    class StepExecutionLog(base):  # type: ignore[misc, valid-type]
        __tablename__ = "step_execution_logs"
        id = sa.Column(sa.Integer, primary_key=True)
        session_id = sa.Column(sa.Integer, sa.ForeignKey("sessions.id"), nullable=False)
        step_id = sa.Column(sa.Integer, sa.ForeignKey("flow_steps.id"), nullable=False)
        parent_log_id = sa.Column(sa.Integer, sa.ForeignKey("step_execution_logs.id"))
        execution_order = sa.Column(sa.Integer, nullable=False)
        round_index = sa.Column(sa.Integer, default=1, server_default=sa.text("1"))
        loop_iteration = sa.Column(sa.Integer, default=0, server_default=sa.text("0"))
        attempt_count = sa.Column(sa.Integer, default=1, server_default=sa.text("1"))
        status = sa.Column(sa.String(20), default="pending", server_default="pending")
        result_type = sa.Column(sa.String(50))
        result_data = sa.Column(sa.Text)
        condition_evaluation = sa.Column(sa.Boolean)
        loop_check_result = sa.Column(sa.Boolean)
        error_message = sa.Column(sa.Text)
        duration_ms = sa.Column(sa.Integer)
        memory_usage_mb = sa.Column(sa.Float)
        created_at = sa.Column(sa.DateTime, default=_utcnow)
        started_at = sa.Column(sa.DateTime)
        completed_at = sa.Column(sa.DateTime)
        step_snapshot = sa.Column(sa.Text)
        context_snapshot = sa.Column(sa.Text)

        session = orm.relationship(Session)
        step = orm.relationship(FlowStep)
        parent = orm.relationship(
            lambda: StepExecutionLog, remote_side=lambda: [StepExecutionLog.id]
        )

        __table_args__ = tuple(
            sa.Index(name, *columns) for name, columns in STEP_LOG_INDEXES.items()
        )

    return SimpleNamespace(
        Session=Session,
        FlowStep=FlowStep,
        StepExecutionLog=StepExecutionLog,
        metadata=Session.metadata,
    )


def build_crucible_models(base: Any, *, with_chat_session: bool = True) -> SimpleNamespace:
    """``Project``, ``ChatSession`` and ``Run`` (seed 004's ``crucible_runs``) on ``base``.

    ``with_chat_session=False`` gives the models as they were before the story that added
    ``crucible_chat_sessions`` and ``crucible_runs.chat_session_id``: the old database.
    """

    class Project(base):  # type: ignore[misc, valid-type]
        __tablename__ = "crucible_projects"
        id = sa.Column(sa.String(36), primary_key=True)
        title = sa.Column(sa.String(200), nullable=False)

    ns = SimpleNamespace(Project=Project, metadata=Project.metadata)
    if with_chat_session:

        class ChatSession(base):  # type: ignore[misc, valid-type]
            __tablename__ = "crucible_chat_sessions"
            id = sa.Column(sa.String(36), primary_key=True)
            project_id = sa.Column(sa.String(36), sa.ForeignKey("crucible_projects.id"))
            title = sa.Column(sa.String(200))

        ns.ChatSession = ChatSession

    columns: dict[str, Any] = {
        "__tablename__": "crucible_runs",
        "id": sa.Column(sa.String(36), primary_key=True),
        "project_id": sa.Column(
            sa.String(36), sa.ForeignKey("crucible_projects.id"), nullable=False, index=True
        ),
        "mode": sa.Column(sa.String(32), nullable=False),
        "config": sa.Column(sa.JSON),
        "recommended_message_id": sa.Column(sa.String(36)),
        "recommended_config_snapshot": sa.Column(sa.JSON),
        "ui_trigger_id": sa.Column(sa.String(64)),
        "ui_trigger_source": sa.Column(sa.String(64)),
        "ui_trigger_metadata": sa.Column(sa.JSON),
        "ui_triggered_at": sa.Column(sa.DateTime),
        "run_summary_message_id": sa.Column(sa.String(36)),
    }
    if with_chat_session:
        columns["chat_session_id"] = sa.Column(
            sa.String(36), sa.ForeignKey("crucible_chat_sessions.id"), nullable=True
        )
    columns.update(
        {
            "status": sa.Column(sa.String(32), nullable=False, server_default="pending"),
            "created_at": sa.Column(sa.DateTime, nullable=False),
            "started_at": sa.Column(sa.DateTime),
            "completed_at": sa.Column(sa.DateTime),
            "duration_seconds": sa.Column(sa.Float),
            "candidate_count": sa.Column(sa.Integer, nullable=False, server_default=sa.text("0")),
            "scenario_count": sa.Column(sa.Integer, nullable=False, server_default=sa.text("0")),
            "evaluation_count": sa.Column(sa.Integer, nullable=False, server_default=sa.text("0")),
            "cost": sa.Column(sa.Numeric(10, 4)),
            "is_pinned": sa.Column(sa.Boolean, nullable=False, server_default=sa.false()),
            "metrics": sa.Column(sa.JSON),
            "llm_usage": sa.Column(sa.JSON),
            "error_summary": sa.Column(sa.Text),
        }
    )
    ns.Run = type("Run", (base,), columns)
    return ns


def crucible_run_rows(count: int = 3) -> list[dict[str, Any]]:
    """Rows for the old ``crucible_runs`` (no ``chat_session_id``), every column set."""
    rows = []
    for i in range(count):
        rows.append(
            {
                "id": f"run-{i:04d}",
                "project_id": "proj-1",
                "mode": "compare" if i % 2 else "single",
                "config": {"models": ["a", "b"], "temperature": 0.5 + i},
                "recommended_message_id": f"msg-{i}",
                "recommended_config_snapshot": {"seed": i, "nested": {"ok": True}},
                "ui_trigger_id": f"trigger-{i}",
                "ui_trigger_source": "button",
                "ui_trigger_metadata": {"user": "ana", "clicks": [1, 2, i]},
                "ui_triggered_at": dt.datetime(2025, 12, 11, 10, 3, 16 + i),
                "run_summary_message_id": f"summary-{i}",
                "status": "completed",
                "created_at": dt.datetime(2025, 12, 11, 10, 0, i),
                "started_at": dt.datetime(2025, 12, 11, 10, 1, i),
                "completed_at": dt.datetime(2025, 12, 11, 10, 2, i),
                "duration_seconds": 60.25 + i,
                "candidate_count": 3 + i,
                "scenario_count": 5,
                "evaluation_count": 15 + i,
                "cost": decimal.Decimal(f"1.{i}250"),
                "is_pinned": bool(i % 2),
                "metrics": {"score": 0.75, "i": i},
                "llm_usage": {"tokens": 1000 * (i + 1)},
                "error_summary": None if i else "one scenario timed out",
            }
        )
    return rows


# -- database helpers shared by the engine tests ------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Everything a test can compare before and after a heal: DDL objects and every row."""

    schema: dict[str, Any]
    rows: dict[str, list[tuple[Any, ...]]]


def dump(engine: sa.Engine, schema: str | None = None, *, skip: tuple[str, ...] = ()) -> Snapshot:
    """Tables, columns (name, type text, nullable), indexes, uniques, FKs, PK and all rows.

    The guard's own tables (``schemaguard_*``) and ``skip`` are left out.
    """
    inspector = sa.inspect(engine)
    tables = sorted(
        n
        for n in inspector.get_table_names(schema=schema)
        if not n.startswith("schemaguard_") and n not in skip
    )
    shape: dict[str, Any] = {}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    md = sa.MetaData()
    with engine.connect() as conn:
        for name in tables:
            columns = inspector.get_columns(name, schema=schema)
            shape[name] = {
                "columns": [
                    (c["name"], str(c["type"].compile(dialect=engine.dialect)), c["nullable"])
                    for c in columns
                ],
                "pk": inspector.get_pk_constraint(name, schema=schema)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(name, schema=schema)
                ),
                "uniques": sorted(
                    (u["name"] or "", tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(name, schema=schema)
                ),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in inspector.get_foreign_keys(name, schema=schema)
                ),
            }
            table = sa.Table(name, md, schema=schema, autoload_with=conn)
            order = [table.c[c] for c in table.primary_key.columns.keys()] or list(table.c)
            rows[name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*order))]
    return Snapshot(shape, rows)


def kinds(report: Any) -> set[tuple[str, str | None, str | None]]:
    """``{(kind, table, name)}`` of a report's items, to assert whole reports at once."""
    return {(i.kind.value, i.table, i.name) for i in report.items}


def flask_app(**config: Any) -> Flask:
    """A Flask app whose guard only runs when a test calls it (``SCHEMAGUARD_RUN_ON=manual``)."""
    app = Flask(__name__)
    app.config.update(SCHEMAGUARD_RUN_ON="manual", **config)
    return app


def fsa_app(url: str, binds: dict[str, str] | None = None, **config: Any) -> tuple[Flask, Any]:
    """A Flask app with a fresh Flask-SQLAlchemy instance (define models on ``db.Model``)."""
    app = flask_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_BINDS=binds or {}, **config)
    db = SQLAlchemy()
    db.init_app(app)
    return app, db


def dispose_fsa(app: Flask, db: Any) -> None:
    """Close every pooled connection of a Flask-SQLAlchemy instance (ResourceWarning-free)."""
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()

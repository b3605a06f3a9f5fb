"""The models of the example app, as they are *after* the change that broke production.

Two incidents are reproduced (see ``../shared/seeds``):

- A multi-role chat gained a :class:`StepExecutionLog` model (20 columns besides ``id``, three
  foreign keys including one to itself, nine named indexes), but the database was made
  before it existed: every ``POST /api/sessions/<id>/run-next-step`` failed with
  "no such table: step_execution_logs".
- ``crucible_runs`` gained a nullable ``chat_session_id`` column: every query over
  :class:`Run`, even ``Run.query.count()``, failed with "no such column".

:mod:`example_app.old_schema` creates the database as it was before both changes.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# -- the multi-role chat ------------------------------------------------------------------
class Role(db.Model):
    """A participant of the chat (a moderator, an expert, a critic...)."""

    __tablename__ = "roles"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False, unique=True)
    prompt = db.Column(db.Text)


class ChatSession(db.Model):
    """One conversation between roles, driven step by step through the flow."""

    __tablename__ = "sessions"
    id = db.Column(db.Integer, primary_key=True)
    topic = db.Column(db.String(200), nullable=False)
    status = db.Column(db.String(20), nullable=False, default="active")
    current_step_order = db.Column(db.Integer, nullable=False, default=0)
    current_round = db.Column(db.Integer, nullable=False, default=1)
    created_at = db.Column(db.DateTime, default=utcnow)


class FlowStep(db.Model):
    """One step of the conversation flow: which role speaks, and what it does."""

    __tablename__ = "flow_steps"
    id = db.Column(db.Integer, primary_key=True)
    step_order = db.Column(db.Integer, nullable=False, unique=True)
    role_id = db.Column(db.Integer, db.ForeignKey("roles.id"), nullable=False)
    task_type = db.Column(db.String(50), nullable=False)
    description = db.Column(db.Text)


class Message(db.Model):
    """What a role said in a session."""

    __tablename__ = "messages"
    id = db.Column(db.Integer, primary_key=True)
    session_id = db.Column(db.Integer, db.ForeignKey("sessions.id"), nullable=False, index=True)
    role_id = db.Column(db.Integer, db.ForeignKey("roles.id"), nullable=False)
    content = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, default=utcnow)


class StepExecutionLog(db.Model):
    """One execution of a flow step: the model added after the database was created."""

    __tablename__ = "step_execution_logs"
    id = db.Column(db.Integer, primary_key=True)
    session_id = db.Column(db.Integer, db.ForeignKey("sessions.id"), nullable=False)
    step_id = db.Column(db.Integer, db.ForeignKey("flow_steps.id"), nullable=False)
    parent_log_id = db.Column(db.Integer, db.ForeignKey("step_execution_logs.id"))
    execution_order = db.Column(db.Integer, nullable=False)
    round_index = db.Column(db.Integer, default=1)
    loop_iteration = db.Column(db.Integer, default=0)
    attempt_count = db.Column(db.Integer, default=1)
    status = db.Column(db.String(20), default="pending")
    result_type = db.Column(db.String(50))
    result_data = db.Column(db.Text)
    condition_evaluation = db.Column(db.Boolean)
    loop_check_result = db.Column(db.Boolean)
    error_message = db.Column(db.Text)
    duration_ms = db.Column(db.Integer)
    memory_usage_mb = db.Column(db.Float)
    created_at = db.Column(db.DateTime, default=utcnow)
    started_at = db.Column(db.DateTime)
    completed_at = db.Column(db.DateTime)
    step_snapshot = db.Column(db.Text)
    context_snapshot = db.Column(db.Text)

    __table_args__ = (
        db.Index("idx_step_logs_session_execution_order", "session_id", "execution_order"),
        db.Index("idx_step_logs_step_id", "step_id"),
        db.Index("idx_step_logs_status", "status"),
        db.Index("idx_step_logs_parent_log", "parent_log_id"),
        db.Index("idx_step_logs_round_loop", "round_index", "loop_iteration"),
        db.Index("idx_step_logs_created_at", "created_at"),
        db.Index("idx_step_logs_duration", "duration_ms"),
        db.Index("idx_step_logs_result_type", "result_type"),
        db.Index(
            "idx_step_logs_session_status_execution", "session_id", "status", "execution_order"
        ),
    )


# -- crucible: evaluation runs per project --------------------------------------------------
class Project(db.Model):
    __tablename__ = "crucible_projects"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200), nullable=False)


class Run(db.Model):
    """An evaluation run; ``chat_session_id`` is the column added after the database was made."""

    __tablename__ = "crucible_runs"
    id = db.Column(db.Integer, primary_key=True)
    project_id = db.Column(
        db.Integer, db.ForeignKey("crucible_projects.id"), nullable=False, index=True
    )
    mode = db.Column(db.String(20), nullable=False, default="full")
    status = db.Column(db.String(20), nullable=False, default="pending")
    created_at = db.Column(db.DateTime, default=utcnow)
    completed_at = db.Column(db.DateTime)
    duration_seconds = db.Column(db.Float)
    candidate_count = db.Column(db.Integer, default=0)
    chat_session_id = db.Column(db.String(36), index=True)

"""The two endpoints that failed in production (seeds 002 and 004), written the ordinary way,
and a page a person opens in a browser (a session and the log of its steps).

Nothing here knows about flask-schemaguard: no try/except around the database, no raw SQL
workaround. When the schema is out of date the guard's error handlers answer instead.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, render_template_string

from .models import ChatSession, FlowStep, Message, Project, Role, Run, StepExecutionLog, db, utcnow

api = Blueprint("api", __name__)


@api.post("/api/sessions/<int:session_id>/run-next-step")
def run_next_step(session_id: int) -> dict[str, Any]:
    """Let the next role speak, and log the step's execution (the seed 002 request)."""
    started = time.perf_counter()
    chat = db.get_or_404(ChatSession, session_id)
    steps = db.session.scalars(sa.select(FlowStep).order_by(FlowStep.step_order)).all()
    if not steps:
        abort(409, description="this flow has no steps")
    done = chat.current_step_order
    position = next((i for i, s in enumerate(steps) if s.step_order > done), None)
    if position is None:  # the flow is done: start the next round
        chat.current_round += 1
        position = 0
    step = steps[position]
    role = db.session.get(Role, step.role_id)
    role_name = role.name if role is not None else f"role {step.role_id}"
    content = f"{role_name} ({step.task_type}): {step.description or '...'}"
    db.session.add(Message(session_id=chat.id, role_id=step.role_id, content=content))
    chat.current_step_order = step.step_order
    log = StepExecutionLog(
        session_id=chat.id,
        step_id=step.id,
        execution_order=(chat.current_round - 1) * len(steps) + position + 1,
        round_index=chat.current_round,
        status="completed",
        result_type="success",
        started_at=utcnow(),
        completed_at=utcnow(),
        duration_ms=round((time.perf_counter() - started) * 1000),
    )
    db.session.add(log)
    db.session.commit()  # the INSERT INTO step_execution_logs that failed in seed 002
    return {
        "session_id": chat.id,
        "round": chat.current_round,
        "step": {"order": step.step_order, "role": role_name, "task_type": step.task_type},
        "message": content,
        "log": {"id": log.id, "execution_order": log.execution_order, "status": log.status},
    }


@api.get("/projects/<int:project_id>/runs/summary")
def runs_summary(project_id: int) -> dict[str, Any]:
    """Counts and the latest runs of a project (the seed 004 request)."""
    project = db.get_or_404(Project, project_id)
    runs = Run.query.filter_by(project_id=project.id)
    total = runs.count()  # the query that failed in seed 004: it selects every mapped column
    by_status = dict(
        db.session.execute(
            sa.select(Run.status, sa.func.count())
            .where(Run.project_id == project.id)
            .group_by(Run.status)
            .order_by(Run.status)
        ).all()
    )
    latest = runs.order_by(Run.id.desc()).limit(3).all()
    return {
        "project": project.name,
        "total_runs": total,
        "by_status": by_status,
        "latest": [
            {"id": r.id, "status": r.status, "chat_session_id": r.chat_session_id}
            for r in latest
        ],
    }


SESSION_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ chat.topic }}</title></head>
<body><main>
<h1>{{ chat.topic }}</h1>
<p>Round {{ chat.current_round }}, {{ logs|length }} step(s) run.</p>
<table><caption>Step execution log</caption>
<thead><tr><th scope="col">#</th><th scope="col">Step</th><th scope="col">Status</th></tr></thead>
<tbody>{% for log in logs %}<tr><td>{{ log.execution_order }}</td><td>{{ log.step_id }}</td>
<td>{{ log.status }}</td></tr>{% endfor %}</tbody></table>
</main></body></html>"""


@api.get("/sessions/<int:session_id>")
def session_page(session_id: int) -> str:
    """A session and its step log, for a person (it reads ``step_execution_logs``)."""
    chat = db.get_or_404(ChatSession, session_id)
    logs = db.session.scalars(
        sa.select(StepExecutionLog)
        .where(StepExecutionLog.session_id == chat.id)
        .order_by(StepExecutionLog.execution_order)
    ).all()
    return render_template_string(SESSION_PAGE, chat=chat, logs=logs)

"""Create the example database as it was *before* the model change, with some rows.

It has no ``step_execution_logs`` table and ``crucible_runs`` has no ``chat_session_id``:
the state the databases of seeds 000-004 were in. Usage::

    python -m example_app.old_schema              # instance/multi_role_chat.db, or DATABASE_URL
    python -m example_app.old_schema sqlite:////tmp/old.db

The example app's tables (and the guard's own) are dropped first, so it can be run again.
"""

from __future__ import annotations

import sys
from datetime import datetime

import sqlalchemy as sa

metadata = sa.MetaData()

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("prompt", sa.Text),
)
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("current_step_order", sa.Integer, nullable=False),
    sa.Column("current_round", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime),
)
flow_steps = sa.Table(
    "flow_steps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("step_order", sa.Integer, nullable=False, unique=True),
    sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id"), nullable=False),
    sa.Column("task_type", sa.String(50), nullable=False),
    sa.Column("description", sa.Text),
)
messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Integer, sa.ForeignKey("sessions.id"), nullable=False, index=True),
    sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id"), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime),
)
projects = sa.Table(
    "crucible_projects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
)
runs = sa.Table(  # no chat_session_id yet
    "crucible_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "project_id", sa.Integer, sa.ForeignKey("crucible_projects.id"), nullable=False, index=True
    ),
    sa.Column("mode", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime),
    sa.Column("completed_at", sa.DateTime),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("candidate_count", sa.Integer),
)

#: Every table the example app or the guard may have created, children first.
ALL_TABLES = (
    "step_execution_logs",
    "messages",
    "flow_steps",
    "roles",
    "sessions",
    "crucible_runs",
    "crucible_projects",
    "schemaguard_events",
    "schemaguard_state",
)

T0 = datetime(2025, 12, 11, 9, 0, 0)


def create_old_database(url: str) -> dict[str, int]:
    """Drop the example's tables at ``url``, create the old schema, add rows; count them."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            existing = set(sa.inspect(conn).get_table_names())
            for name in ALL_TABLES:
                if name in existing:
                    quoted = conn.dialect.identifier_preparer.quote(name)
                    conn.execute(sa.text(f"DROP TABLE {quoted}"))
        metadata.create_all(engine)
        with engine.begin() as conn:
            _insert_rows(conn)
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _insert_rows(conn: sa.Connection) -> None:
    conn.execute(
        roles.insert(),
        [
            {"id": 1, "name": "moderator", "prompt": "Keep the discussion on topic."},
            {"id": 2, "name": "expert", "prompt": "Answer with facts."},
            {"id": 3, "name": "critic", "prompt": "Find the weak points."},
        ],
    )
    steps = [
        (1, "open", "Introduce the topic."),
        (2, "answer", "Give the facts."),
        (3, "critique", "Challenge the answer."),
        (1, "summarize", "Sum up the round."),
    ]
    conn.execute(
        flow_steps.insert(),
        [
            {"id": i, "step_order": i, "role_id": role, "task_type": task, "description": text}
            for i, (role, task, text) in enumerate(steps, start=1)
        ],
    )
    topics = ["Should we adopt flask-schemaguard?", "Migrations or create_all?"]
    conn.execute(
        sessions.insert(),
        [
            {"id": i, "topic": topic, "status": "active", "current_step_order": 0,
             "current_round": 1, "created_at": T0}
            for i, topic in enumerate(topics, start=1)
        ],
    )
    conn.execute(
        projects.insert(), [{"id": 1, "name": "prompt tuning"}, {"id": 2, "name": "retrieval"}]
    )
    statuses = ["completed", "completed", "failed", "completed", "running"]
    conn.execute(
        runs.insert(),
        [
            {"id": i, "project_id": 1, "mode": "full", "status": status, "created_at": T0,
             "candidate_count": 3}
            for i, status in enumerate(statuses, start=1)
        ],
    )


def default_url() -> str:
    """The URL the example app uses: ``DATABASE_URL``, else its instance/ SQLite file."""
    from flask import Flask

    from . import database_url

    return database_url(Flask(__package__ or "example_app").instance_path)


def main(argv: list[str] | None = None) -> int:
    from flask_schemaguard.dialects import display_url

    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    from . import with_driver

    url = with_driver(args[0]) if args else default_url()
    counts = create_old_database(url)
    rows = ", ".join(f"{n} {t}" for t, n in counts.items())
    print(f"old schema created in {display_url(sa.make_url(url))}: {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

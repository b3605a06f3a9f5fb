"""The real incidents of ``../shared/seeds``, replayed on SQLite, PostgreSQL and MariaDB.

- Seeds 000-002: a database created before the ``StepExecutionLog`` model existed. Flow
  execution failed with "no such table: step_execution_logs"; the fix was a hand-written
  migration creating 21 columns, 3 foreign keys and 9 indexes.
- Seed 004: ``crucible_runs`` lacked the nullable ``chat_session_id`` column; every ORM query
  over ``Run`` (even ``count()``) failed because the mapper selects every column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from models_incidents import (
    STEP_LOG_COLUMNS,
    STEP_LOG_FOREIGN_KEYS,
    STEP_LOG_INDEXES,
    build_crucible_models,
    build_flow_models,
    crucible_run_rows,
    dispose_fsa,
    dump,
    flask_app,
    fsa_app,
    kinds,
    plain_base,
)
from sqlalchemy import orm

from flask_schemaguard import DriftKind, SchemaGuard, Severity


@pytest.fixture
def flask_db(db_url: str) -> Iterator[tuple[Any, Any]]:
    app, db = fsa_app(db_url)
    try:
        yield app, db
    finally:
        dispose_fsa(app, db)


def test_seed_000_missing_step_execution_logs_table(flask_db: tuple[Any, Any], db_kind: str):
    app, db = flask_db
    m = build_flow_models(db.Model)
    with app.app_context():
        engine = db.engine
        # The database as `init-db` made it before the model was added, with live data.
        m.metadata.create_all(engine, tables=[m.Session.__table__, m.FlowStep.__table__])
        db.session.add(m.Session(id=51, topic="debate", created_at=dt.datetime(2025, 12, 11)))
        db.session.add(m.FlowStep(id=21, flow_name="debate", step_order=1))
        db.session.commit()
        before = dump(engine)

        # The incident: flushing a StepExecutionLog fails because the table is missing.
        db.session.add(m.StepExecutionLog(session_id=51, step_id=21, execution_order=1))
        with pytest.raises(sa.exc.DatabaseError, match="(?i)step_execution_logs"):
            db.session.flush()
        db.session.rollback()

    guard = SchemaGuard(app)
    with app.app_context():
        report = guard.check()
        assert not report.in_sync
        assert [(i.kind, i.table, i.severity, i.healable) for i in report.items] == [
            (DriftKind.MISSING_TABLE, "step_execution_logs", Severity.ERROR, True)
        ]
        assert (
            report.items[0].detail == "Table 'step_execution_logs' does not exist in the database."
        )

        plan = guard.plan()
        assert [(op.kind.value, op.name) for op in plan] == [
            ("create_table", None),
            *sorted(("create_index", name) for name in STEP_LOG_INDEXES),
        ]
        assert "CREATE TABLE" in plan[0].sql and "step_execution_logs" in plan[0].sql

        result = guard.heal()
        assert result.failed == () and result.skipped == ()
        assert [op.kind.value for op in result.applied] == ["create_table"] + ["create_index"] * 9
        assert result.after.in_sync and result.after.items == ()

        inspector = sa.inspect(engine)
        columns = [c["name"] for c in inspector.get_columns("step_execution_logs")]
        assert columns == list(STEP_LOG_COLUMNS)
        assert {
            ix["name"]: tuple(ix["column_names"])
            for ix in inspector.get_indexes("step_execution_logs")
        } == STEP_LOG_INDEXES
        assert {
            (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in inspector.get_foreign_keys("step_execution_logs")
        } == STEP_LOG_FOREIGN_KEYS
        assert inspector.get_pk_constraint("step_execution_logs")["constrained_columns"] == ["id"]

        # The request of seed 002 now works: insert a log (and a child log) through the ORM.
        started = dt.datetime(2025, 12, 11, 10, 3, 16)
        root = m.StepExecutionLog(
            session_id=51,
            step_id=21,
            execution_order=1,
            status="completed",
            result_type="success",
            created_at=started,
            condition_evaluation=True,
            memory_usage_mb=12.5,
            context_snapshot='{"round": 1}',
        )
        db.session.add(root)
        db.session.flush()
        db.session.add(
            m.StepExecutionLog(session_id=51, step_id=21, execution_order=2, parent=root)
        )
        db.session.commit()
        root_id = root.id
        db.session.expunge_all()

        logs = db.session.scalars(
            sa.select(m.StepExecutionLog).order_by(m.StepExecutionLog.execution_order)
        ).all()
        assert [(log.execution_order, log.status) for log in logs] == [
            (1, "completed"),
            (2, "pending"),
        ]
        first, child = logs
        assert (first.round_index, first.loop_iteration, first.attempt_count) == (1, 0, 1)
        assert first.condition_evaluation is True and first.memory_usage_mb == 12.5
        assert first.created_at == started and first.session.topic == "debate"
        assert child.parent.id == root_id and child.step.flow_name == "debate"
        assert m.StepExecutionLog.query.filter_by(session_id=51).count() == 2

        if db_kind != "sqlite":  # SQLite enforces foreign keys only with PRAGMA foreign_keys
            db.session.add(m.StepExecutionLog(session_id=999, step_id=21, execution_order=3))
            with pytest.raises(sa.exc.IntegrityError):
                db.session.commit()
            db.session.rollback()

        # Nothing else changed, and healing again finds nothing to do.
        assert dump(engine, skip=("step_execution_logs",)) == before
        again = guard.heal()
        assert again.applied == () and again.failed == () and again.after.in_sync
        assert guard.check().in_sync


def test_seed_004_missing_nullable_column_keeps_rows_and_orm_works(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        _seed_004(engine)
    finally:
        engine.dispose()


def _seed_004(engine: sa.Engine) -> None:
    old = build_crucible_models(plain_base(), with_chat_session=False)
    old.metadata.create_all(engine)
    rows = crucible_run_rows(4)
    with engine.begin() as conn:
        conn.execute(old.Project.__table__.insert(), [{"id": "proj-1", "title": "Crucible"}])
        conn.execute(old.Run.__table__.insert(), rows)
    before = dump(engine)

    new = build_crucible_models(plain_base())
    Run, ChatSession = new.Run, new.ChatSession
    app = flask_app()
    guard = SchemaGuard(app, metadata=new.metadata, engine=engine)
    with app.app_context():
        report = guard.check()
        assert not report.in_sync
        assert kinds(report) == {
            ("missing_table", "crucible_chat_sessions", None),
            ("missing_column", "crucible_runs", "chat_session_id"),
        }
        column = report.by_kind(DriftKind.MISSING_COLUMN)[0]
        assert column.severity is Severity.ERROR and column.healable and column.hint is None

        # Seed 004's failing query, before any heal: the guard stopped the mapper from
        # selecting the missing column, so count() over a subquery of Run works.
        with orm.Session(engine) as session:
            assert session.query(Run).filter(Run.project_id == "proj-1").count() == 4
            assert session.get(Run, "run-0001").chat_session_id is None

        result = guard.heal()
        assert result.failed == () and result.skipped == ()
        # The referenced table first, then the column that points at it.
        assert [(op.kind.value, op.table, op.name) for op in result.applied] == [
            ("create_table", "crucible_chat_sessions", None),
            ("add_column", "crucible_runs", "chat_session_id"),
        ]
        assert result.after.in_sync and result.after.items == ()

    # Every pre-existing row keeps every value; the new column reads NULL.
    after = dump(engine, skip=("crucible_chat_sessions",))
    assert after.rows["crucible_projects"] == before.rows["crucible_projects"]
    names = [c[0] for c in after.schema["crucible_runs"]["columns"]]
    assert names == [c[0] for c in before.schema["crucible_runs"]["columns"]] + ["chat_session_id"]
    assert [r[:-1] for r in after.rows["crucible_runs"]] == before.rows["crucible_runs"]
    assert all(r[-1] is None for r in after.rows["crucible_runs"])
    inspector = sa.inspect(engine)
    assert {
        (tuple(fk["constrained_columns"]), fk["referred_table"])
        for fk in inspector.get_foreign_keys("crucible_runs")
    } == {(("project_id",), "crucible_projects"), (("chat_session_id",), "crucible_chat_sessions")}

    # ORM over Run: count(), select(), get(), filter and write on the new column.
    with orm.Session(engine) as session:
        assert session.query(Run).filter(Run.project_id == "proj-1").count() == 4
        runs = session.scalars(sa.select(Run).order_by(Run.id)).all()
        expected = {r["id"]: r for r in rows}
        for run in runs:
            for key, value in expected[run.id].items():
                assert getattr(run, key) == value, (run.id, key)
            assert run.chat_session_id is None
        session.add(ChatSession(id="chat-1", project_id="proj-1", title="first chat"))
        session.get(Run, "run-0002").chat_session_id = "chat-1"
        session.commit()
    with orm.Session(engine) as session:
        linked = session.scalars(sa.select(Run).where(Run.chat_session_id == "chat-1")).all()
        assert [r.id for r in linked] == ["run-0002"]
        assert session.query(Run).filter(Run.chat_session_id.is_(None)).count() == 3

    with app.app_context():
        assert guard.heal().applied == ()
        assert guard.check().in_sync

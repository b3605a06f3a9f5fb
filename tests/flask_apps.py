"""App factories for the Flask integration tests (``tests/test_flask_*.py``).

Every app is a small Flask-SQLAlchemy app on the test's own database. Its models are defined
anew for each app (a fresh ``SQLAlchemy()`` with a fresh declarative base), so mapper state
never leaks between tests. The database starts with an *old* schema, created with raw DDL
before the guard is set up: ``runs(id, name)`` with one row, and nothing else.

The models are newer than that schema:

- ``runs.note``: a nullable column (healable by ``add_column``);
- ``runs.priority`` (``priority=True``): NOT NULL without a default (never healed);
- ``step_execution_logs``: a whole missing table (healable by ``create_table``);
- ``ix_runs_name`` (``unique_name=True``): a unique index, which fails over duplicate names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, mapped_column

from flask_schemaguard import SchemaGuard
from flask_schemaguard import orm_refresh as refresh

_built: list[Flask] = []

#: For behaviour that does not depend on the database: run on SQLite only (overrides the
#: ``db_kind`` fixture's parameters, so ``db_url`` is a SQLite file).
SQLITE_ONLY = pytest.mark.parametrize("db_kind", ["sqlite"])


def old_schema(db_url: str, *, names: tuple[str, ...] = ("first",), logs: bool = False) -> None:
    """Create the old schema with raw DDL (not the models): ``runs(id, name)`` and its rows."""
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE runs (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL)"
            )
            for i, name in enumerate(names, start=1):
                conn.execute(
                    sa.text("INSERT INTO runs (id, name) VALUES (:i, :n)"), {"i": i, "n": name}
                )
            if logs:
                conn.exec_driver_sql(
                    "CREATE TABLE step_execution_logs (id INTEGER NOT NULL PRIMARY KEY, "
                    "run_id INTEGER, message VARCHAR(200))"
                )
    finally:
        engine.dispose()


def execute(db_url: str, *statements: str) -> None:
    """Run raw DDL/DML on the test database from outside the app (another process, say)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def scalar(db_url: str, statement: str) -> Any:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(statement).scalar()
    finally:
        engine.dispose()


def define_models(
    *, priority: bool = False, unique_name: bool = False, events: bool = False
) -> SimpleNamespace:
    """A fresh Flask-SQLAlchemy instance and the models ``Run`` and ``StepLog``."""

    class Base(DeclarativeBase):
        pass

    db = SQLAlchemy(model_class=Base)
    attrs: dict[str, Any] = {
        "__tablename__": "runs",
        "id": mapped_column(sa.Integer, primary_key=True, autoincrement=False),
        "name": mapped_column(sa.String(50), nullable=False),
        "note": mapped_column(sa.String(100), nullable=True),
    }
    if priority:
        attrs["priority"] = mapped_column(sa.Integer, nullable=False)
    if unique_name:
        attrs["__table_args__"] = (sa.Index("ix_runs_name", "name", unique=True),)
    Run = type("Run", (db.Model,), attrs)

    class StepLog(db.Model):  # type: ignore[name-defined, misc]
        __tablename__ = "step_execution_logs"
        id = mapped_column(sa.Integer, primary_key=True)
        run_id = mapped_column(sa.Integer)
        message = mapped_column(sa.String(200))

    models = SimpleNamespace(db=db, Run=Run, StepLog=StepLog)
    if events:

        class Event(db.Model):  # type: ignore[name-defined, misc]
            __bind_key__ = "events"
            __tablename__ = "events"
            id = mapped_column(sa.Integer, primary_key=True)
            kind = mapped_column(sa.String(20), nullable=False)

        models.Event = Event
    return models


def build_app(
    db_url: str,
    tmp_path: os.PathLike[str] | str,
    config: Mapping[str, Any] | None = None,
    *,
    priority: bool = False,
    unique_name: bool = False,
    guard: SchemaGuard | None = None,
    setup: Callable[[Flask, SimpleNamespace], None] | None = None,
    init_guard: bool = True,
    debug: bool = False,
    name: str = "app",
    events_url: str | None = None,
) -> Flask:
    """The test app: Flask-SQLAlchemy on ``db_url``, views over the models, then the guard.

    ``setup(app, models)`` runs after ``db.init_app`` and before the guard (Flask-Migrate,
    flask-cors, the app's own error handlers...). The models are ``app.extensions["models"]``.
    ``events_url`` adds a bind ``events`` with a model ``Event`` (table ``events``).
    """
    app = Flask(name, instance_path=os.path.join(os.fspath(tmp_path), f"instance-{name}"))
    app.config.update(
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=db_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(db_url),
    )
    app.debug = debug
    if events_url is not None:  # a second bind with the model Event
        app.config["SQLALCHEMY_BINDS"] = {"events": events_url}
    app.config.update(config or {})
    models = define_models(
        priority=priority, unique_name=unique_name, events=events_url is not None
    )
    db, Run, StepLog = models.db, models.Run, models.StepLog
    db.init_app(app)
    app.extensions["models"] = models
    _built.append(app)

    def run_json(run: Any) -> dict[str, Any]:
        return {"id": run.id, "name": run.name, "note": run.note}

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    @app.get("/runs")
    def list_runs() -> Any:
        return jsonify([run_json(r) for r in db.session.query(Run).order_by(Run.id).all()])

    @app.get("/runs/count")
    def count_runs() -> Any:
        return jsonify(count=Run.query.count())

    @app.get("/runs/<int:run_id>")
    def get_run(run_id: int) -> Any:
        return jsonify(run_json(db.get_or_404(Run, run_id)))

    @app.post("/runs")
    def add_run() -> Any:
        data = request.get_json()
        run = Run(id=data["id"], name=data["name"])
        if "note" in data:
            run.note = data["note"]
        db.session.add(run)
        db.session.commit()
        return jsonify(run_json(run)), 201

    @app.get("/logs")
    def list_logs() -> Any:
        return jsonify([log.message for log in StepLog.query.all()])

    @app.post("/logs")
    def add_log() -> Any:
        db.session.add(StepLog(run_id=1, message=request.get_json()["message"]))
        db.session.commit()
        return "", 201

    @app.get("/logs/search")
    def search_logs() -> Any:
        found = StepLog.query.filter(StepLog.message == request.args["q"]).all()
        return jsonify([log.message for log in found])

    @app.get("/raw-note")
    def raw_note() -> Any:
        rows = db.session.execute(sa.text("SELECT note FROM runs")).all()
        return jsonify([r[0] for r in rows])

    @app.get("/duplicate")
    def duplicate() -> Any:
        db.session.execute(sa.text("INSERT INTO runs (id, name) VALUES (1, 'again')"))
        db.session.commit()
        return "unreachable"

    @app.get("/syntax")
    def syntax() -> Any:
        db.session.execute(sa.text("SELEC 1"))
        return "unreachable"

    @app.get("/swallowed")
    def swallowed() -> Any:
        """The app swallows the first error; the session is then in 'pending rollback'."""
        db.session.add(StepLog(id=1, run_id=1, message="x"))
        try:
            db.session.flush()
        except sa.exc.DBAPIError:
            pass
        return jsonify(count=db.session.query(Run).count())

    if setup is not None:
        setup(app, models)
    if init_guard:
        (guard or SchemaGuard()).init_app(app)
    return app


def _engine_options(db_url: str) -> dict[str, Any]:
    if db_url.startswith("sqlite"):
        return {}
    return {"connect_args": {"connect_timeout": 2}}


def models_of(app: Flask) -> SimpleNamespace:
    return app.extensions["models"]  # type: ignore[no-any-return]


def dispose(app: Flask) -> None:
    """Dispose every engine of the app (pytest runs with filterwarnings=error)."""
    db = models_of(app).db
    # close the sessions of every app context, including one pytest-flask still has pushed
    for session in list(db.session.registry.registry.values()):
        session.close()
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def cleanup() -> None:
    """Dispose the engines of every app built by this test; restore degraded mappers."""
    while _built:
        dispose(_built.pop())
    refresh.reset()


def audit_rows(db_url: str, table: str = "schemaguard_events") -> list[dict[str, Any]]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return []
            rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def table_names(db_url: str) -> set[str]:
    engine = sa.create_engine(db_url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def column_names(db_url: str, table: str) -> set[str]:
    engine = sa.create_engine(db_url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()

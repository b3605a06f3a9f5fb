"""From heal to migration: ``flask schemaguard revision`` round trips through Flask-Migrate.

An old database (made by a real first migration) meets newer models: the guard heals it,
``revision --from-history`` writes the migration and stamps it, and that migration brings a
second copy of the old database to the same schema (``flask db upgrade``), which the guard and
``flask db check`` then find in sync; ``flask db downgrade`` takes it back. ``--from-drift``
does the same for the seed incidents without healing first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic_helpers import alembic_isolated
from conftest import make_database
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, mapped_column

from flask_schemaguard import SchemaGuard


def _models(new: bool) -> SQLAlchemy:
    """The app's models: old (``runs(id, title)``) or new (a column, an index, two tables)."""

    class Base(DeclarativeBase):
        pass

    db = SQLAlchemy(model_class=Base)
    attrs: dict[str, Any] = {
        "__tablename__": "runs",
        "id": mapped_column(sa.Integer, primary_key=True),
        "title": mapped_column(sa.String(80), nullable=False),
    }
    if new:
        attrs["chat_session_id"] = mapped_column(sa.String(36), nullable=True, index=True)
        attrs["score"] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    type("Run", (db.Model,), attrs)
    if new:

        class StepExecutionLog(db.Model):  # type: ignore[name-defined, misc]
            __tablename__ = "step_execution_logs"
            id = mapped_column(sa.Integer, primary_key=True)
            run_id = mapped_column(sa.ForeignKey("runs.id"), nullable=False, index=True)
            status = mapped_column(sa.String(20), server_default="pending")

    return db


def _app(url: str, migrations: Path, *, new: bool, mode: str = "check") -> Flask:
    import flask_migrate

    app = Flask(f"revision_{new}_{mode}")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SCHEMAGUARD_MODE=mode)
    db = _models(new)
    db.init_app(app)
    flask_migrate.Migrate(app, db, directory=str(migrations))
    SchemaGuard(app)
    app.extensions["test_db"] = db
    return app


def _cli(app: Flask, *args: str) -> Any:
    with alembic_isolated():
        result = app.test_cli_runner().invoke(args=list(args))
    return result


def _dispose(*apps: Flask) -> None:
    for app in apps:
        with app.app_context():
            for engine in app.extensions["test_db"].engines.values():
                engine.dispose()


def _schema(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            t: (
                sorted(c["name"] for c in inspector.get_columns(t)),
                sorted(str(i["name"]) for i in inspector.get_indexes(t)),
            )
            for t in inspector.get_table_names()
            if not t.startswith("schemaguard_")
        }
    finally:
        engine.dispose()


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _heads(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(
                r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            )
    finally:
        engine.dispose()


@pytest.fixture
def second_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    directory = tmp_path / "second"
    directory.mkdir()
    yield from make_database(db_kind, directory)


@pytest.fixture
def migrations(tmp_path: Path, db_url: str, second_url: str) -> Path:
    """A Flask-Migrate directory with a first revision (the old models), applied to both
    databases."""
    import flask_migrate

    directory = tmp_path / "migrations"
    old = _app(db_url, directory, new=False, mode="off")
    with old.app_context(), alembic_isolated():
        flask_migrate.init(str(directory))
        flask_migrate.migrate(str(directory), message="initial", rev_id="0001")
    for url in (db_url, second_url):
        app = _app(url, directory, new=False, mode="off")
        assert _cli(app, "db", "upgrade").exit_code == 0
        _dispose(app)
    _dispose(old)
    return directory


def _ruff(path: str) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--isolated", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_heal_then_revision_from_history_round_trip(
    db_url: str, second_url: str, migrations: Path
) -> None:
    old_schema = _schema(second_url)
    healed = _app(db_url, migrations, new=True, mode="heal")  # the startup heal
    assert healed.extensions["schemaguard"].last_result.applied
    written = _cli(healed, "schemaguard", "revision", "--from-history", "-m", "add chat")
    assert written.exit_code == 0, written.output
    path = written.output.strip().splitlines()[-1]
    assert os.path.isfile(path) and "stamped this database" in written.output
    text = Path(path).read_text()
    assert "op.add_column('runs'" in text and "op.create_table('step_execution_logs'" in text
    assert "op.drop_table('step_execution_logs')" in text
    _ruff(path)
    revision = _heads(db_url)
    assert revision != ["0001"]  # stamped at the new revision
    before = _schema(db_url)
    assert _cli(healed, "db", "upgrade").exit_code == 0  # a no-op there
    assert _schema(db_url) == before and _heads(db_url) == revision

    other = _app(second_url, migrations, new=True)  # the old copy, check mode
    assert not other.extensions["schemaguard"].last_report.in_sync
    upgraded = _cli(other, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert _schema(second_url) == _schema(db_url)
    assert _cli(other, "schemaguard", "status").exit_code == 0
    checked = _cli(other, "db", "check")
    assert checked.exit_code == 0, checked.output
    assert _cli(other, "db", "downgrade").exit_code == 0
    assert _schema(second_url) == old_schema
    _dispose(healed, other)


def test_revision_from_drift_round_trip(db_url: str, second_url: str, migrations: Path) -> None:
    app = _app(db_url, migrations, new=True)  # check mode: nothing healed
    written = _cli(app, "schemaguard", "revision", "-m", "seed incidents")
    assert written.exit_code == 0, written.output
    path = written.output.strip().splitlines()[-1]
    _ruff(path)
    assert _heads(db_url) == ["0001"]  # from drift: nothing is stamped
    for url in (db_url, second_url):
        target = _app(url, migrations, new=True)
        assert _cli(target, "db", "upgrade").exit_code == 0
        assert _cli(target, "schemaguard", "status").exit_code == 0
        assert _cli(target, "db", "check").exit_code == 0
        _dispose(target)
    assert _cli(app, "schemaguard", "revision").exit_code == 1  # nothing left to write
    _dispose(app)


def test_flask_db_migrate_after_a_heal_leaves_the_guards_tables_alone(
    db_url: str, migrations: Path
) -> None:
    app = _app(db_url, migrations, new=True, mode="heal")
    assert {"schemaguard_events", "schemaguard_state"} <= set(_tables(db_url))
    assert _cli(app, "schemaguard", "revision", "--from-history").exit_code == 0
    migrated = _cli(app, "db", "migrate", "-m", "nothing")
    assert migrated.exit_code == 0, migrated.output
    versions = list((migrations / "versions").glob("*.py"))
    assert not any("schemaguard_" in p.read_text() for p in versions)
    _dispose(app)


def test_revision_without_a_migrations_directory_exits_2(db_url: str) -> None:
    app = Flask("no_migrations")
    app.config.update(SQLALCHEMY_DATABASE_URI=db_url, SCHEMAGUARD_MODE="check")
    db = _models(True)
    db.init_app(app)
    SchemaGuard(app)
    result = app.test_cli_runner().invoke(args=["schemaguard", "revision"])
    assert result.exit_code == 2 and "no migrations directory" in result.output
    with app.app_context():
        db.engine.dispose()

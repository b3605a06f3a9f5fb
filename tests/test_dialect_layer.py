"""The dialect layer: one class per database, right on every supported driver and version.

Each test here stands for a bug the spread-out dialect code had: a fingerprint narrower than
the reflection, error codes read from one driver only, English-only messages, a SQLAlchemy
internal missing on an older version, a fast-path record keyed by the models only, tables
frozen at ``init_app``, and ADD COLUMN / CREATE TABLE DDL built or split by hand.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import REQUIRED, make_database
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_schemaguard import DriftKind, SchemaGuard
from flask_schemaguard.dialects import (
    classify_error,
    impl_for,
    mysql_catalog,
    postgresql_catalog,
    sqlite_catalog,
)
from flask_schemaguard.engine.compare import diff
from flask_schemaguard.engine.model_shapes import model_shape
from flask_schemaguard.engine.planner import make_plan
from flask_schemaguard.engine.runner import Runner, Settings
from flask_schemaguard.engine.targets import metadata_target


def _runs(md: sa.MetaData, *, with_note: bool = True, schema: str | None = None) -> sa.Table:
    extra = [sa.Column("note", sa.String(40))] if with_note else []
    return sa.Table(
        "runs",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(40)),
        *extra,
        schema=schema,
    )


def _kinds(report: object) -> set[tuple[str, str | None, str | None]]:
    return {(i.kind.value, i.table, i.name) for i in report.items}  # type: ignore[attr-defined]


# -- fingerprint scope -----------------------------------------------------------------------
@pytest.fixture
def pg_url(tmp_path: os.PathLike[str]) -> Iterator[str]:
    yield from make_database("postgresql", tmp_path)


def test_fingerprint_covers_every_schema_of_the_search_path(pg_url: str) -> None:
    """search_path=app,public: a column dropped from public.runs is seen by a new process."""
    setup = sa.create_engine(pg_url)
    with setup.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA app")
        conn.exec_driver_sql("CREATE TABLE app.other (id integer PRIMARY KEY)")
        conn.exec_driver_sql(
            "CREATE TABLE public.runs (id integer PRIMARY KEY, title varchar(40), note varchar(40))"
        )
    setup.dispose()
    md = sa.MetaData()
    _runs(md)

    def new_process() -> tuple[Runner, sa.Engine]:
        engine = sa.create_engine(pg_url, connect_args={"options": "-c search_path=app,public"})
        return Runner([metadata_target(md, engine)], Settings()), engine

    runner, engine = new_process()
    result = runner.heal()  # nothing to do: records the in-sync state
    assert result.after.in_sync and not result.applied
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT current_schema()").scalar() == "app"
        assert conn.exec_driver_sql("SELECT to_regclass('public.runs')").scalar() is not None
        conn.exec_driver_sql("ALTER TABLE public.runs DROP COLUMN note")
        conn.commit()
    engine.dispose()

    runner, engine = new_process()
    try:
        assert ("missing_column", "runs", "note") in _kinds(runner.check())
    finally:
        engine.dispose()


# -- driver error codes ----------------------------------------------------------------------
def test_lock_timeout_is_reported_under_every_driver(driver_url: str) -> None:
    """The heal lock held elsewhere is a ``lock_timeout`` item, never a SchemaGuardError."""
    md = sa.MetaData()
    _runs(md)
    holder_engine = sa.create_engine(driver_url)
    engine = sa.create_engine(driver_url)
    try:
        with holder_engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            holder = impl_for(conn).heal_session(conn, 5, 5)
            holder.begin()
            try:
                runner = Runner([metadata_target(md, engine)], Settings(lock_timeout=0.5))
                result = runner.heal()
            finally:
                holder.rollback()
                holder.release()
        assert result.after.by_kind("lock_timeout"), result.after.items
        assert "SCHEMAGUARD_LOCK_TIMEOUT" in result.after.by_kind("lock_timeout")[0].detail
        assert result.after.by_kind("missing_table")
    finally:
        engine.dispose()
        holder_engine.dispose()


def _error_of(conn: sa.Connection, statement: str) -> sa.exc.DBAPIError:
    with pytest.raises(sa.exc.DBAPIError) as info:
        conn.exec_driver_sql(statement)
    conn.rollback()
    return info.value


def test_missing_table_and_column_errors_under_every_driver(driver_url: str) -> None:
    engine = sa.create_engine(driver_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE runs (id INTEGER PRIMARY KEY, title VARCHAR(20))")
            conn.commit()
            impl = impl_for(conn)
            table_error = _error_of(conn, "SELECT id FROM step_execution_logs")
            select_error = _error_of(conn, "SELECT runs.chat_session_id FROM runs")
            insert_error = _error_of(conn, "INSERT INTO runs (id, chat_session_id) VALUES (1, 2)")
        found = classify_error(table_error)
        assert found is not None and found.kind is DriftKind.MISSING_TABLE
        assert found.table == "step_execution_logs"
        for error in (select_error, insert_error):
            found = classify_error(error)
            assert found is not None and found.kind is DriftKind.MISSING_COLUMN, error
            assert (found.table, found.column) == ("runs", "chat_session_id"), error
        assert impl.error_code(table_error.orig) is not None or impl.name == "sqlite"
    finally:
        engine.dispose()


@pytest.mark.parametrize("language", ["de_DE", "fr_FR"])
def test_names_are_read_whatever_the_server_language(
    db_url: str, db_kind: str, language: str
) -> None:
    """Classification by code; the names come from the translated message."""
    if db_kind == "sqlite":
        pytest.skip("SQLite's messages are never translated")
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            setting = f"{language}.UTF-8" if db_kind == "postgresql" else language
            try:
                conn.exec_driver_sql(f"SET lc_messages = '{setting}'")
                conn.commit()
            except sa.exc.DBAPIError as exc:
                conn.rollback()
                message = f"the server has no {setting} messages: {exc.orig}"
                if db_kind in REQUIRED and language == "de_DE":
                    pytest.fail(message)
                pytest.skip(message)
            conn.exec_driver_sql("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
            conn.commit()
            table_error = _error_of(conn, "SELECT id FROM step_execution_logs")
            column_error = _error_of(conn, "SELECT chat_session_id FROM runs")
        assert "step_execution_logs" in str(table_error.orig)
        assert "does not exist" not in str(table_error.orig)  # really translated
        assert "doesn't exist" not in str(table_error.orig)
        found = classify_error(table_error)
        assert found is not None and (found.kind, found.table) == (
            DriftKind.MISSING_TABLE,
            "step_execution_logs",
        )
        found = classify_error(column_error)
        assert found is not None and (found.kind, found.table, found.column) == (
            DriftKind.MISSING_COLUMN,
            "runs",
            "chat_session_id",
        )
    finally:
        engine.dispose()


# -- SQLAlchemy internals ---------------------------------------------------------------------
_INTERNALS = {
    "sqlite": (sqlite_catalog, "FK_PATTERN"),
    "postgresql": (postgresql_catalog, "DOMAIN"),
    "mysql": (mysql_catalog, "ReflectedState"),
}


def test_a_missing_sqlalchemy_internal_falls_back_to_the_same_report(
    engine: sa.Engine,
    db_kind: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As on a SQLAlchemy version without the name: the inspector reads, the report is equal."""
    old = sa.MetaData()
    users = sa.Table("users", old, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "posts",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.ForeignKey(users.c.id, name="fk_posts_user"), nullable=False),
        sa.Column("slug", sa.String(30), unique=True),
        sa.Index("ix_posts_user", "user_id"),
    )
    old.create_all(engine)
    new = sa.MetaData()
    sa.Table(
        "users", new, sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text)
    )
    sa.Table(
        "posts",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("slug", sa.String(30), unique=True),
        sa.Index("ix_posts_slug", "slug"),
    )
    model = model_shape(new.tables.values(), engine.dialect)
    with engine.connect() as conn:
        impl = impl_for(conn)
        fast = impl.reflect(conn, [None])
        module, name = _INTERNALS[db_kind]
        if db_kind == "mysql" and mysql_catalog.usable(conn.dialect):
            pytest.skip(
                f"the MariaDB reader is not used here: {mysql_catalog.usable(conn.dialect)}"
            )
        monkeypatch.setattr(module, name, None)
        with caplog.at_level(logging.DEBUG, logger="flask_schemaguard"):
            slow = impl.reflect(conn, [None])
    assert "catalog reader unavailable" in caplog.text and name in caplog.text
    assert slow == fast
    assert diff(model, slow) == diff(model, fast)
    assert ("missing_column", "users", "email") in {
        (i.kind.value, i.table, i.name) for i in diff(model, slow)
    }


# -- the fast path's key -----------------------------------------------------------------------
def test_fast_path_is_keyed_by_the_settings_too(engine: sa.Engine) -> None:
    """Heal with legacy_* excluded; without the exclusion a new process sees the missing column."""
    old = sa.MetaData()
    sa.Table("legacy_runs", old, sa.Column("id", sa.Integer, primary_key=True))
    old.create_all(engine)
    md = sa.MetaData()
    sa.Table(
        "legacy_runs",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.String(20)),
    )
    excluded = Runner([metadata_target(md, engine)], Settings(exclude_tables=("legacy_*",)))
    result = excluded.heal()
    assert result.after.in_sync and not result.applied
    assert excluded.check().in_sync  # recorded: answered by the fast path

    for settings in (Settings(), Settings(allowed_operations=frozenset({"create_table"}))):
        report = Runner([metadata_target(md, engine)], settings).check()
        assert ("missing_column", "legacy_runs", "note") in _kinds(report), settings


# -- targets resolved at each check --------------------------------------------------------------
@pytest.fixture
def other_url(db_kind: str, tmp_path: os.PathLike[str]) -> Iterator[str]:
    directory = os.path.join(os.fspath(tmp_path), "other")
    os.mkdir(directory)
    yield from make_database(db_kind, directory)


def test_models_and_binds_defined_after_init_app_are_checked(db_url: str, other_url: str) -> None:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=db_url,
        SQLALCHEMY_BINDS={"other": other_url},
        SCHEMAGUARD_MODE="check",
    )
    db = SQLAlchemy()
    db.init_app(app)

    class Run(db.Model):  # type: ignore[name-defined, misc]
        __tablename__ = "runs"
        id = sa.Column(sa.Integer, primary_key=True)

    with app.app_context():
        db.create_all()
    guard = SchemaGuard(app)
    try:
        assert guard.check(app=app).in_sync

        class Late(db.Model):  # type: ignore[name-defined, misc]
            __tablename__ = "late_models"
            id = sa.Column(sa.Integer, primary_key=True)

        class Archive(db.Model):  # type: ignore[name-defined, misc]
            __tablename__ = "archives"
            __bind_key__ = "other"
            id = sa.Column(sa.Integer, primary_key=True)

        report = guard.check(app=app)
        found = {(i.kind.value, i.bind, i.table) for i in report.items}
        assert ("missing_table", None, "late_models") in found
        assert ("missing_table", "other", "archives") in found
        assert {d.bind for d in report.databases} == {None, "other"}
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


# -- DDL from SQLAlchemy's constructs -------------------------------------------------------------
def _fk_models(**fk: object) -> tuple[sa.MetaData, sa.MetaData]:
    old, new = sa.MetaData(), sa.MetaData()
    for md in (old, new):
        sa.Table("users", md, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table("runs", old, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "runs",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", **fk)),  # type: ignore[arg-type]
    )
    return old, new


def _plan(old: sa.MetaData, new: sa.MetaData, engine: sa.Engine) -> object:
    with engine.connect() as conn:
        shape = impl_for(conn).reflect(conn, [None])
    items = diff(model_shape(new.tables.values(), engine.dialect), shape)
    return make_plan(items, {(t.schema, t.name): t for t in new.tables.values()}, engine.dialect)


def test_add_column_keeps_the_foreign_keys_name_and_actions(
    engine: sa.Engine, db_kind: str
) -> None:
    old, new = _fk_models(name="fk_runs_owner", ondelete="CASCADE", onupdate="SET NULL")
    old.create_all(engine)
    runner = Runner([metadata_target(new, engine)], Settings())
    result = runner.heal()
    assert [op.kind.value for op in result.applied] == ["add_column"], result.failed
    sql = result.applied[0].sql
    assert "fk_runs_owner" in sql and "ON DELETE CASCADE" in sql and "ON UPDATE SET NULL" in sql
    with engine.connect() as conn:
        (fk,) = sa.inspect(conn).get_foreign_keys("runs")
        table_sql = _sqlite_sql(conn)
        if db_kind == "sqlite":  # SQLAlchemy parses no column constraint: ask SQLite
            actions = conn.exec_driver_sql(
                "SELECT on_delete, on_update FROM pragma_foreign_key_list('runs')"
            ).one()
    if db_kind == "sqlite":
        assert "CONSTRAINT fk_runs_owner REFERENCES" in table_sql
        assert tuple(actions) == ("CASCADE", "SET NULL")
    else:
        assert fk["name"] == "fk_runs_owner"
        assert fk["options"].get("ondelete") == "CASCADE"
        assert fk["options"].get("onupdate") == "SET NULL"


def _sqlite_sql(conn: sa.Connection) -> str:
    if conn.dialect.name != "sqlite":
        return ""
    return str(conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'runs'").scalar())


def test_add_column_keeps_deferrable(engine: sa.Engine, db_kind: str) -> None:
    if db_kind == "mysql":
        pytest.skip("MySQL/MariaDB have no deferrable constraints")
    old, new = _fk_models(name="fk_runs_owner", deferrable=True, initially="DEFERRED")
    old.create_all(engine)
    result = Runner([metadata_target(new, engine)], Settings()).heal()
    assert "DEFERRABLE INITIALLY DEFERRED" in result.applied[0].sql
    with engine.connect() as conn:
        (fk,) = sa.inspect(conn).get_foreign_keys("runs")
        table_sql = _sqlite_sql(conn)
    if db_kind == "sqlite":  # SQLAlchemy reflects no DEFERRABLE on SQLite: the DDL has it
        assert "REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED" in table_sql
    else:
        assert fk["options"].get("deferrable") is True
        assert fk["options"].get("initially") == "DEFERRED"


def test_an_ondelete_that_is_not_sql_is_never_run(engine: sa.Engine) -> None:
    old, new = _fk_models(ondelete="CASCADE; DROP TABLE runs --")
    old.create_all(engine)
    plan = _plan(old, new, engine)
    assert not plan.operations  # type: ignore[attr-defined]
    (skipped,) = plan.skipped  # type: ignore[attr-defined]
    assert (skipped.kind.value, skipped.name, skipped.healable) == (
        "missing_column",
        "owner_id",
        False,
    )
    assert "SQLAlchemy cannot build its DDL" in (skipped.hint or "")
    result = Runner([metadata_target(new, engine)], Settings()).heal()
    assert not result.applied and not result.failed
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("runs")


def test_a_server_default_holding_a_statement_separator(engine: sa.Engine) -> None:
    md = sa.MetaData()
    sa.Table(
        "notes",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.String(40), server_default="first;\nsecond %s"),
    )
    result = Runner([metadata_target(md, engine)], Settings()).heal()
    assert [op.kind.value for op in result.applied] == ["create_table"], result.failed
    assert len(result.applied[0].statements) == 1
    with engine.begin() as conn:
        conn.execute(md.tables["notes"].insert().values(id=1))
        assert conn.execute(sa.text("SELECT body FROM notes")).scalar() == "first;\nsecond %s"

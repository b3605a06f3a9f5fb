"""Check mode takes the fast path from a recorded state (a heal-mode process's, or
``flask schemaguard status --record``'s) and never writes; ``status --record`` records only a
database in sync, on all three databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Flask
from statements import counted, hit_statements

from flask_schemaguard.engine.runner import Runner, Settings
from flask_schemaguard.engine.targets import metadata_target

WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "REPLACE")
CHECK_MODE = Settings(record_state_in_database=False)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


def _models() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), index=True),
    )
    return md


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(WRITES)]


def _state_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT models_hash, checked_at FROM schemaguard_state"))


def test_check_mode_takes_the_state_a_heal_mode_process_recorded(engine: sa.Engine) -> None:
    md = _models()
    assert Runner([metadata_target(md, engine)]).heal().after.in_sync  # heal mode: records
    rows = _state_rows(engine)
    assert len(rows) == 1

    checker = Runner([metadata_target(md, engine)], CHECK_MODE)  # a new check-mode process
    with counted(engine) as statements:
        report = checker.check()
    assert report.in_sync
    assert len(statements) == hit_statements(engine), statements
    assert not _writes(statements)
    assert _state_rows(engine) == rows

    # a change by anyone: check mode sees it at once, and still writes nothing
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE item ADD COLUMN extra INTEGER")
    later = Runner([metadata_target(md, engine)], CHECK_MODE)
    with counted(engine) as statements:
        kinds = [i.kind.value for i in later.check().items]
    assert kinds == ["extra_column"]
    assert not _writes(statements)
    assert _state_rows(engine) == rows


def test_check_mode_never_creates_the_state_table(engine: sa.Engine) -> None:
    md = _models()
    md.create_all(engine)
    errors: list[str] = []
    sa.event.listen(engine, "handle_error", lambda ctx: errors.append(str(ctx.original_exception)))
    with counted(engine) as statements:
        assert Runner([metadata_target(md, engine)], CHECK_MODE).check().in_sync
    assert not _writes(statements)
    assert "schemaguard_state" not in sa.inspect(engine).get_table_names()
    if engine.dialect.name == "postgresql":
        # PostgreSQL logs every failed statement: asking for a missing state table must not
        # fail at every start of a check-mode process
        assert errors == []


def _app(db_url: str, tmp_path: Path, name: str = "app") -> Flask:
    return fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, name=name)


def _create_models_schema(app: Flask) -> None:
    with app.app_context():
        fa.models_of(app).db.create_all()


def test_status_record_makes_a_new_check_mode_process_take_the_fast_path(
    db_url: str, db_kind: str, tmp_path: Path
) -> None:
    app = _app(db_url, tmp_path, "deploy")
    _create_models_schema(app)
    result = app.test_cli_runner().invoke(args=["schemaguard", "status", "--record"])
    assert result.exit_code == 0, result.output
    assert "in sync" in result.stdout
    assert "default: state recorded" in result.stderr

    later = _app(db_url, tmp_path, "later")  # its startup check ran at init (check mode)
    guard = later.extensions["schemaguard"]
    with later.app_context():
        engine = fa.models_of(later).db.engine
    fresh = Runner(guard.runner.source, CHECK_MODE)  # a new process's check, same models
    with counted(engine) as statements:
        assert fresh.check().in_sync
    assert len(statements) == hit_statements(engine), statements
    assert not _writes(statements)


def test_status_record_leaves_a_drifted_database_unrecorded(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)  # lacks a column and a table the models have
    app = _app(db_url, tmp_path)
    result = app.test_cli_runner().invoke(args=["schemaguard", "status", "--record", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)  # standard output stays the JSON report alone
    assert report["in_sync"] is False
    assert "default: state not recorded: the database is not in sync" in result.stderr
    assert "schemaguard_state" not in fa.table_names(db_url)


def test_status_record_without_the_right_to_write_names_the_table(
    db_url: str, tmp_path: Path, limited_user: Any
) -> None:
    _create_models_schema(_app(db_url, tmp_path, "owner"))
    app = _app(limited_user(), tmp_path, "limited")  # may read and write rows, not create
    result = app.test_cli_runner().invoke(args=["schemaguard", "status", "--record"])
    assert result.exit_code == 2, result.output
    assert "recording the schema state of default bind" in result.stderr
    assert "in table 'schemaguard_state' failed" in result.stderr
    assert "schemaguard_state" not in fa.table_names(db_url)


def test_postgresql_state_table_the_user_may_not_read_sends_no_failing_statement(
    db_url: str, db_kind: str, limited_user: Any
) -> None:
    if db_kind != "postgresql":
        pytest.skip("PostgreSQL logs every failed statement; the others do not by default")
    md = _models()
    admin = sa.create_engine(db_url)
    try:
        md.create_all(admin)
        url = limited_user()  # its grants cover the tables that exist now
        assert Runner([metadata_target(md, admin)]).heal().after.in_sync  # records the state
        limited = sa.create_engine(url)
        errors: list[str] = []
        sa.event.listen(
            limited, "handle_error", lambda ctx: errors.append(str(ctx.original_exception))
        )
        try:
            assert Runner([metadata_target(md, limited)], CHECK_MODE).check().in_sync
        finally:
            limited.dispose()
        assert errors == []
    finally:
        admin.dispose()


def test_sqlite_database_rebuilt_from_a_dump_is_checked_again(tmp_path: Path) -> None:
    """A dump carries the state table's rows along and restarts ``schema_version``: the
    reloaded schema (here without a column) must not pass for the one recorded."""
    import sqlite3

    md = sa.MetaData()
    sa.Table("item", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))
    first = sa.create_engine(f"sqlite:///{tmp_path / 'first.db'}")
    md.create_all(first)
    assert Runner([metadata_target(md, first)]).heal().after.in_sync  # recorded
    with first.begin() as conn:  # the reload's schema_version ends where this one was recorded
        conn.exec_driver_sql("ALTER TABLE item DROP COLUMN name")
    first.dispose()
    source = sqlite3.connect(tmp_path / "first.db")
    target = sqlite3.connect(tmp_path / "reloaded.db")
    target.executescript("\n".join(source.iterdump()))
    source.close()
    target.close()

    reloaded = sa.create_engine(f"sqlite:///{tmp_path / 'reloaded.db'}")
    try:
        assert "schemaguard_state" in sa.inspect(reloaded).get_table_names()  # the dump's row
        kinds = {
            i.kind.value for i in Runner([metadata_target(md, reloaded)], CHECK_MODE).check().items
        }
        assert kinds == {"missing_column"}
    finally:
        reloaded.dispose()

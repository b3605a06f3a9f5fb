"""``flask_schemaguard.testing`` and the pytest plugin, as a user's own suite would use them.

The helper is tested with pytest-flask's ``app`` fixture on every database; the plugin with
``pytester`` in a subprocess, through its real ``pytest11`` entry point.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from flask import Flask

from example_app import create_app, guard
from example_app.models import db
from example_app.old_schema import create_old_database
from flask_schemaguard import DriftKind, SchemaGuard, drift_detected
from flask_schemaguard import orm_refresh as refresh
from flask_schemaguard.testing import assert_schema_in_sync

pytest_plugins = ["pytester"]


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """The example app in check mode on its *old* database (pytest-flask's ``app``)."""
    create_old_database(db_url)
    config = {"SQLALCHEMY_DATABASE_URI": db_url, "TESTING": True, "SCHEMAGUARD_MODE": "check"}
    app = create_app(config)
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def test_drift_fails_with_a_readable_table(app: Flask) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_schema_in_sync(app)
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == ("Database schema is not in sync with the models (2 error, 1 warning):")
    assert lines[1].startswith("database default (")
    header = next(ln for ln in lines if ln.startswith("kind"))
    assert header.split() == ["kind", "table", "name", "severity", "healable", "bind"]
    rows = [ln.split() for ln in lines]
    assert ["missing_table", "step_execution_logs", "-", "error", "yes", "default"] in rows
    assert ["missing_column", "crucible_runs", "chat_session_id", "error", "yes", "default"] in rows
    assert "- Table 'step_execution_logs' does not exist in the database." in lines
    assert "flask schemaguard heal" in lines[-1]


def test_in_sync_after_heal_and_returns_the_report(app: Flask) -> None:
    guard.heal(app=app)
    report = assert_schema_in_sync(app)
    assert report.in_sync
    # also given the guard, inside an app context or with app=
    assert assert_schema_in_sync(guard, app=app).in_sync
    with app.app_context():
        assert assert_schema_in_sync(guard).in_sync


def test_ignore_tolerates_some_kinds(app: Flask) -> None:
    with pytest.raises(AssertionError):
        assert_schema_in_sync(app, ignore=["missing_table", "missing_column"])
    report = assert_schema_in_sync(
        app, ignore=[DriftKind.MISSING_TABLE, "missing_column", "missing_index"]
    )
    assert not report.in_sync  # the report is returned as it is


def test_fresh_database_healed_at_startup_is_in_sync(db_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "TESTING": True})
    try:
        assert_schema_in_sync(app)
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


def test_read_only(app: Flask) -> None:
    """The helper neither heals nor changes mappers, and sends no signal."""
    before = (guard.plan(app=app), refresh.degraded_columns())
    assert "crucible_runs.chat_session_id" in before[1]  # check mode degraded it at startup
    sent: list[object] = []
    with drift_detected.connected_to(lambda sender, **kw: sent.append(kw), app):
        with pytest.raises(AssertionError):
            assert_schema_in_sync(app)
    assert sent == []
    assert (guard.plan(app=app), refresh.degraded_columns()) == before


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="Flask app or a SchemaGuard"):
        assert_schema_in_sync("sqlite://")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="init_app"):
        assert_schema_in_sync(Flask("bare"))
    with pytest.raises(RuntimeError, match="app context"):
        assert_schema_in_sync(SchemaGuard())


# -- the pytest plugin ---------------------------------------------------------------------
CONFTEST = """
import sqlite3

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_schemaguard import SchemaGuard

db = SQLAlchemy()


class Note(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(80))
    body = db.Column(db.Text)


@pytest.fixture
def app(tmp_path, request):
    path = tmp_path / "app.db"
    if getattr(request.module, "OLD_DATABASE", False):  # a database without note.body
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, title VARCHAR(80))")
        conn.close()
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", SCHEMAGUARD_MODE="check")
    db.init_app(app)
    if not getattr(request.module, "OLD_DATABASE", False):
        with app.app_context():
            db.create_all()
    SchemaGuard(app)
    yield app
    with app.app_context():
        db.engine.dispose()
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    return pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider", *args)


def test_plugin_fixture_and_marker_in_sync(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ok=textwrap.dedent(
            """
            import pytest

            def test_report(schemaguard_report):
                assert schemaguard_report.in_sync
                assert schemaguard_report.items == ()

            @pytest.mark.schemaguard
            def test_marked(client):
                assert client.get("/healthz/schema").status_code == 200
            """
        )
    )
    result = _run(pytester)
    result.assert_outcomes(passed=2)


def test_plugin_marker_reports_drift(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_drift=textwrap.dedent(
            """
            import pytest

            OLD_DATABASE = True

            def test_unmarked_is_not_affected(client):
                assert client.get("/healthz/schema").status_code == 503

            @pytest.mark.schemaguard
            def test_marked():
                raise AssertionError("never runs")

            @pytest.mark.schemaguard(ignore=["missing_column"])
            def test_marked_tolerant():
                pass

            @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.schemaguard)])
            def test_param(n):
                pass

            def test_report_lists_the_drift(schemaguard_report):
                assert [(i.kind.value, i.table, i.name) for i in schemaguard_report.items] == [
                    ("missing_column", "note", "body")
                ]
            """
        )
    )
    result = _run(pytester, "-rE")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*Database schema is not in sync with the models (1 error):*",
            "*missing_column*note*body*error*yes*default*",
            "*- Column 'note.body' does not exist in the database.*",
        ]
    )
    result.stdout.no_fnmatch_line("*never runs*")
    result.stdout.fnmatch_lines(["ERROR*test_marked*", "ERROR*test_param?2?*"])


def test_plugin_needs_an_app_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_noapp="def test_report(schemaguard_report):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*need an `app` fixture*"])


def test_plugin_is_registered_and_idle_in_other_suites(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    markers = pytester.runpytest_subprocess("--markers", "-p", "no:cacheprovider")
    markers.stdout.fnmatch_lines(["@pytest.mark.schemaguard(ignore=()):*"])
    fixtures = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    fixtures.stdout.fnmatch_lines(["schemaguard_report*"])


def test_plugin_import_is_cheap() -> None:
    code = (
        "import sys, flask_schemaguard.pytest_plugin; "
        "print(sorted(m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy', 'click') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"

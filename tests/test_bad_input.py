"""Bad input on real databases: a database that is down or does not exist, a database user that
may not run DDL, and a few bad timeout settings.

What the user must get: a clear error or warning naming the cause; the app starting in ``heal``
and ``check`` modes and refusing to start in ``strict`` mode; and, where the heal could not run,
nothing half-applied (PostgreSQL and SQLite: the schema is exactly as before).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import _reliability as rel
import pytest
import sqlalchemy as sa
from conftest import MYSQL_URL, POSTGRES_URL, require_server
from flask import Flask

from flask_schemaguard import SchemaGuard, SchemaGuardError

DENIED = {
    "postgresql": "permission denied",
    "mysql": "command denied",
    "sqlite": "readonly database",
}
#: PostgreSQL says "must be owner of table x" for ALTER TABLE and CREATE INDEX
DENIED_PER_OPERATION = {**DENIED, "postgresql": ("permission denied", "must be owner of table")}


def _names_cause(db_kind: str, message: str) -> bool:
    words = DENIED_PER_OPERATION[db_kind]
    return any(w in message for w in ((words,) if isinstance(words, str) else words))


def _app(url: str, **config: Any) -> tuple[Flask, SchemaGuard, sa.Engine]:
    engine = sa.create_engine(url)
    app = Flask(__name__)
    app.config.update(config)
    try:
        guard = SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
    except BaseException:
        engine.dispose()
        raise
    return app, guard, engine


# -- a database that is down or wrong --------------------------------------------------------
def _bad_url(case: str, tmp_path: Any) -> tuple[str, str]:
    """(URL, words of the cause the user must see)."""
    if case == "postgresql-down":
        return "postgresql+psycopg://postgres@127.0.0.1:1/test", "Connection refused"
    if case == "mysql-down":
        return "mysql+pymysql://root@127.0.0.1:1/test", "Connection refused"
    if case == "postgresql-no-such-database":
        require_server("postgresql")
        url = sa.make_url(POSTGRES_URL).set(database="sg_no_such_database")
        return url.render_as_string(hide_password=False), '"sg_no_such_database" does not exist'
    if case == "mysql-no-such-database":
        require_server("mysql")
        url = sa.make_url(MYSQL_URL).set(database="sg_no_such_database")
        return url.render_as_string(hide_password=False), "Unknown database 'sg_no_such_database'"
    assert case == "sqlite-no-such-directory"
    return f"sqlite:///{tmp_path}/missing/dir/app.db", "unable to open database file"


BAD_URLS = [
    "postgresql-down",
    "mysql-down",
    "postgresql-no-such-database",
    "mysql-no-such-database",
    "sqlite-no-such-directory",
]


@pytest.mark.parametrize("case", BAD_URLS)
@pytest.mark.parametrize("mode", ["heal", "check"])
def test_unreachable_database_app_starts_and_says_why(
    case: str, mode: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, cause = _bad_url(case, tmp_path)
    with caplog.at_level(logging.WARNING, logger="flask_schemaguard"):
        app, guard, engine = _app(url, SCHEMAGUARD_MODE=mode)
    try:
        state = app.extensions["schemaguard"]
        report = state.last_report
        assert report is not None and not report.in_sync
        (item,) = report.by_kind("database_unreachable")
        assert cause in item.detail
        assert [d.reachable for d in report.databases] == [False]
        assert cause in caplog.text
        # the health endpoint says fail (503), it does not raise
        assert app.test_client().get("/healthz/schema").status_code == 503
        # an explicit check says the same, without raising
        assert guard.check(app=app).by_kind("database_unreachable")
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", BAD_URLS)
def test_unreachable_database_strict_refuses_to_start(case: str, tmp_path: Any) -> None:
    url, cause = _bad_url(case, tmp_path)
    engine = sa.create_engine(url)
    try:
        app = Flask(__name__)
        app.config["SCHEMAGUARD_MODE"] = "strict"
        with pytest.raises(SchemaGuardError) as info:
            SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
        message = str(info.value)
        assert cause in message
        assert "strict" in message
    finally:
        engine.dispose()


# -- a database user that may not run DDL ----------------------------------------------------
def test_ddl_denied_heal_mode_starts_names_the_cause_changes_nothing(
    db_kind: str, db_url: str, limited_user: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    rel.make_drifted(db_url)
    url = limited_user()
    schema_before, rows_before = rel.schema_snapshot(db_url), rel.dump_rows(db_url)

    with caplog.at_level(logging.WARNING, logger="flask_schemaguard"):
        app, guard, engine = _app(url)  # heal mode: must not raise
    engine.dispose()
    # the guard could not even create its audit table: it says so, and which setting to change
    assert DENIED[db_kind] in caplog.text
    assert "schemaguard_events" in caplog.text and "SCHEMAGUARD_AUDIT_TABLE" in caplog.text
    assert rel.schema_snapshot(db_url) == schema_before
    assert rel.dump_rows(db_url) == rows_before


def test_ddl_denied_each_operation_fails_with_the_cause(
    db_kind: str, db_url: str, limited_user: Callable[[], str]
) -> None:
    rel.make_drifted(db_url)
    url = limited_user()
    schema_before, rows_before = rel.schema_snapshot(db_url), rel.dump_rows(db_url)

    app, guard, engine = _app(url, SCHEMAGUARD_AUDIT_TABLE=None)
    try:
        result = app.extensions["schemaguard"].last_result
        assert result.applied == ()
        attempted = [e for _op, e in result.failed if not e.startswith("not run")]
        assert attempted and all(_names_cause(db_kind, e) for e in attempted), result.failed
        assert {op.kind.value for op, _e in result.failed} == {
            "create_table",
            "add_column",
            "create_index",
        }
        assert result.after.by_kind("missing_table")  # the drift is still reported
    finally:
        engine.dispose()
    assert rel.schema_snapshot(db_url) == schema_before
    assert rel.dump_rows(db_url) == rows_before


def test_ddl_denied_strict_refuses_to_start(
    db_kind: str, db_url: str, limited_user: Callable[[], str]
) -> None:
    rel.make_drifted(db_url)
    url = limited_user()
    schema_before = rel.schema_snapshot(db_url)
    for audit in ("schemaguard_events", None):
        engine = sa.create_engine(url)
        try:
            app = Flask(__name__)
            app.config.update(SCHEMAGUARD_MODE="strict", SCHEMAGUARD_AUDIT_TABLE=audit)
            with pytest.raises(SchemaGuardError) as info:
                SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
        finally:
            engine.dispose()
        message = str(info.value)
        if audit is None:  # the drift that remains, named
            assert "step_execution_logs" in message
        else:  # the cause itself
            assert DENIED[db_kind] in message
    assert rel.schema_snapshot(db_url) == schema_before


def test_read_only_user_on_a_schema_in_sync_starts_quietly(
    db_url: str, limited_user: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing to heal, but the guard cannot record its state: a warning, not a failure."""
    admin = sa.create_engine(db_url)
    try:
        rel.drop_everything(admin)
        rel.seed_metadata().create_all(admin)
    finally:
        admin.dispose()
    url = limited_user()
    with caplog.at_level(logging.WARNING, logger="flask_schemaguard"):
        app, guard, engine = _app(url)
    try:
        report = app.extensions["schemaguard"].last_report
        assert report is not None and report.in_sync, report
        assert "could not record the schema state" in caplog.text
        assert "failed" not in caplog.text
    finally:
        engine.dispose()


# -- a few bad settings of the lock timeouts -------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SCHEMAGUARD_LOCK_TIMEOUT", -1),
        ("SCHEMAGUARD_LOCK_TIMEOUT", "30"),
        ("SCHEMAGUARD_LOCK_TIMEOUT", True),
        ("SCHEMAGUARD_DDL_LOCK_TIMEOUT", 0),
        ("SCHEMAGUARD_DDL_LOCK_TIMEOUT", None),
        ("SCHEMAGUARD_AUDIT_TABLE", "events; DROP TABLE users"),
        ("SCHEMAGUARD_AUDIT_TABLE", "schemaguard_state"),
    ],
)
def test_bad_timeout_or_audit_setting_names_the_key(key: str, value: Any) -> None:
    engine = sa.create_engine("sqlite://")
    try:
        app = Flask(__name__)
        app.config[key] = value
        with pytest.raises(SchemaGuardError, match=key):
            SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
    finally:
        engine.dispose()

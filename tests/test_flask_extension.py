"""The Flask extension: wiring, configuration, RUN_ON, modes, startup failures, Alembic, signals.

Every test that touches a database runs on SQLite, PostgreSQL and MariaDB/MySQL (``db_url``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
from alembic_helpers import alembic_isolated
from conftest import make_database
from flask import Flask

import flask_schemaguard
from flask_schemaguard import (
    DriftKind,
    SchemaDriftError,
    SchemaGuard,
    SchemaGuardError,
    drift_detected,
    heal_failed,
    schema_healed,
)
from flask_schemaguard.extension import GuardState, _running_skipped_command

LOGS = "step_execution_logs"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {}


@pytest.fixture
def app(db_url: str, tmp_path: Path, app_config: dict[str, Any]) -> Flask:
    """pytest-flask's app: the old schema, then the app with its guard (heal at init)."""
    fa.old_schema(db_url)
    return fa.build_app(db_url, tmp_path, app_config)


@pytest.fixture
def signals() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every signal sent during the test: name -> list of keyword arguments (with sender)."""
    seen: dict[str, list[dict[str, Any]]] = {"drift": [], "healed": [], "failed": []}
    receivers = {
        "drift": lambda sender, **kw: seen["drift"].append({"sender": sender, **kw}),
        "healed": lambda sender, **kw: seen["healed"].append({"sender": sender, **kw}),
        "failed": lambda sender, **kw: seen["failed"].append({"sender": sender, **kw}),
    }
    drift_detected.connect(receivers["drift"])
    schema_healed.connect(receivers["healed"])
    heal_failed.connect(receivers["failed"])
    try:
        yield seen
    finally:
        drift_detected.disconnect(receivers["drift"])
        schema_healed.disconnect(receivers["healed"])
        heal_failed.disconnect(receivers["failed"])


def state_of(app: Flask) -> GuardState:
    return app.extensions["schemaguard"]  # type: ignore[no-any-return]


# -- wiring -------------------------------------------------------------------------------


def test_app_fixture_heals_at_init(app: Flask, client: Any, db_url: str) -> None:
    assert LOGS in fa.table_names(db_url)
    assert "note" in fa.column_names(db_url, "runs")
    assert client.get("/runs").json == [{"id": 1, "name": "first", "note": None}]
    assert state_of(app).startup_done  # RUN_ON="init": inside init_app
    assert [r["table_name"] for r in fa.audit_rows(db_url)] == [LOGS, "runs"]
    assert state_of(app).last_report is not None and state_of(app).last_report.in_sync


@fa.SQLITE_ONLY
def test_app_factory_form_one_guard_two_apps(db_url: str, db_kind: str, tmp_path: Path) -> None:
    second = make_database(db_kind, tmp_path / "second")
    (tmp_path / "second").mkdir()
    other_url = next(second)
    try:
        fa.old_schema(db_url)
        fa.old_schema(other_url)
        guard = SchemaGuard()
        first_app = fa.build_app(db_url, tmp_path, guard=guard, name="first")
        second_app = fa.build_app(
            other_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, guard=guard, name="second"
        )
        assert state_of(first_app).guard is guard is state_of(second_app).guard
        assert state_of(first_app) is not state_of(second_app)
        # the first app healed its database; the second (check mode) only reported on its own
        assert LOGS in fa.table_names(db_url)
        assert LOGS not in fa.table_names(other_url)
        assert guard.check(app=first_app).in_sync
        with second_app.app_context():
            report = guard.check()
        assert not report.in_sync
        assert {(i.kind, i.table) for i in report.errors} == {
            (DriftKind.MISSING_TABLE, LOGS),
            (DriftKind.MISSING_COLUMN, "runs"),
        }
        assert second_app.test_client().get("/runs").status_code == 200
        assert second_app.test_client().get("/logs").json["healed"] is False
        fa.dispose(second_app)
    finally:
        fa.cleanup()
        next(second, None)


def test_direct_form_and_double_init(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    fa.old_schema(url)
    guard = SchemaGuard()
    app = fa.build_app(url, tmp_path, guard=guard)
    with pytest.raises(RuntimeError, match="once per app"):
        guard.init_app(app)
    with pytest.raises(RuntimeError, match="init_app"):
        guard.check()  # no app context and no app=
    with pytest.raises(RuntimeError, match="init_app"):
        guard.check(app=Flask("bare"))


def test_explicit_db_argument(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"

    def setup(app: Flask, models: Any) -> None:
        del app.extensions["sqlalchemy"]  # found only through db=
        app.extensions["guard_db"] = models.db

    app = fa.build_app(url, tmp_path, setup=setup, init_guard=False)
    models = fa.models_of(app)
    SchemaGuard(app, db=models.db)
    assert {"runs", LOGS} <= fa.table_names(url)
    app.extensions["sqlalchemy"] = models.db  # for the teardown's dispose


def test_missing_flask_sqlalchemy_is_a_clear_error() -> None:
    app = Flask("nodb")
    with pytest.raises(SchemaGuardError) as info:
        SchemaGuard(app)
    message = str(info.value)
    assert "app.extensions['sqlalchemy']" in message
    assert "db.init_app(app)" in message and "SchemaGuard(app, db=db)" in message
    assert "metadata=" in message
    with pytest.raises(SchemaGuardError, match="needs both"):
        SchemaGuard(metadata=__import__("sqlalchemy").MetaData())


# -- configuration ------------------------------------------------------------------------

BAD_VALUES = [
    ("SCHEMAGUARD_MODE", "fix", "'heal', 'check', 'strict', 'off'"),
    ("SCHEMAGUARD_MODE", None, "'heal', 'check', 'strict', 'off'"),
    ("SCHEMAGUARD_RUN_ON", "startup", "'init', 'first_request', 'manual'"),
    (
        "SCHEMAGUARD_ALLOWED_OPERATIONS",
        ["drop_table"],
        "add_column, add_enum_value, create_index, create_schema, create_sequence, "
        "create_table, create_unique_index, rebuild_index",
    ),
    ("SCHEMAGUARD_ALLOWED_OPERATIONS", 5, "a list of operations"),
    ("SCHEMAGUARD_EXCLUDE_TABLES", 5, "table names or glob patterns"),
    ("SCHEMAGUARD_EXCLUDE_TABLES", [""], "table names or glob patterns"),
    ("SCHEMAGUARD_LOCK_TIMEOUT", -1, "a finite number of seconds >= 0"),
    ("SCHEMAGUARD_LOCK_TIMEOUT", "30", "a finite number of seconds >= 0"),
    ("SCHEMAGUARD_LOCK_TIMEOUT", True, "a finite number of seconds >= 0"),
    ("SCHEMAGUARD_DDL_LOCK_TIMEOUT", 0, "a finite number of seconds > 0"),
    ("SCHEMAGUARD_LOCK_TIMEOUT", float("inf"), "a finite number of seconds >= 0 and <= 86400"),
    ("SCHEMAGUARD_LOCK_TIMEOUT", float("nan"), "a finite number of seconds >= 0 and <= 86400"),
    ("SCHEMAGUARD_DDL_LOCK_TIMEOUT", float("inf"), "a finite number of seconds > 0 and <= 86400"),
    ("SCHEMAGUARD_DDL_LOCK_TIMEOUT", 3000000, "a finite number of seconds > 0 and <= 86400"),
    ("SCHEMAGUARD_INDEX_TIMEOUT", 0, "a finite number of seconds > 0 and <= 86400"),
    ("SCHEMAGUARD_INDEX_TIMEOUT", 10**9, "a finite number of seconds > 0 and <= 86400"),
    ("SCHEMAGUARD_ONLINE_DDL", "off", "True or False"),
    ("SCHEMAGUARD_HEALTH_URL", "healthz", "a path starting with '/'"),
    ("SCHEMAGUARD_HEALTH_URL", "", "a path starting with '/'"),
    ("SCHEMAGUARD_HEALTH_TOKEN", "", "a non-empty token string"),
    ("SCHEMAGUARD_HEALTH_TOKEN", 42, "a non-empty token string"),
    ("SCHEMAGUARD_HEALTH_CACHE_SECONDS", -5, "a finite number of seconds >= 0"),
    ("SCHEMAGUARD_ERROR_HANDLERS", "yes", "True or False"),
    ("SCHEMAGUARD_CORS_ORIGINS", 5, "origins such as 'https://app.example.com'"),
    ("SCHEMAGUARD_CORS_ORIGINS", ["https://app.example.com/"], "scheme://host[:port]"),
    ("SCHEMAGUARD_CORS_CREDENTIALS", "yes", "True or False"),
    ("SCHEMAGUARD_CORS_CREDENTIALS", True, "with SCHEMAGUARD_CORS_ORIGINS='*'"),
    ("SCHEMAGUARD_HEAL_ON_ERROR", 1, "True or False"),
    ("SCHEMAGUARD_MIGRATIONS_DIR", 5, "None or a directory path"),
    ("SCHEMAGUARD_MIGRATIONS_DIR", "/nonexistent/migrations", "an existing directory"),
    ("SCHEMAGUARD_DEGRADE_MISSING_COLUMNS", "true", "True or False"),
    ("SCHEMAGUARD_AUDIT_TABLE", "bad-name", "letters, digits, underscores"),
    ("SCHEMAGUARD_AUDIT_TABLE", "", "a table name"),
    ("SCHEMAGUARD_AUDIT_TABLE", "schemaguard_state", "a name other than 'schemaguard_state'"),
    ("SCHEMAGUARD_AUDIT_RETENTION_DAYS", 0, "a finite number of days > 0"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_VALUES)
def test_bad_config_value(tmp_path: Path, key: str, value: Any, allowed: str) -> None:
    with pytest.raises(SchemaGuardError) as info:
        fa.build_app(f"sqlite:///{tmp_path / 'app.db'}", tmp_path, {key: value})
    message = str(info.value)
    assert key in message
    assert repr(value) in message
    assert allowed in message
    assert not (tmp_path / "app.db").exists() or fa.table_names(f"sqlite:///{tmp_path}/app.db") == (
        set()
    )


def test_every_design_key_is_validated() -> None:
    keys = {k for k, _v, _a in BAD_VALUES}
    assert keys == set(flask_schemaguard.config.DEFAULTS)


def test_unknown_key_names_the_key_and_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(SchemaGuardError) as info:
        fa.build_app(f"sqlite:///{tmp_path / 'app.db'}", tmp_path, {"SCHEMAGUARD_MODES": "heal"})
    assert "SCHEMAGUARD_MODES: did you mean SCHEMAGUARD_MODE?" in str(info.value)
    with pytest.raises(SchemaGuardError) as info:
        fa.build_app(f"sqlite:///{tmp_path / 'app.db'}", tmp_path, {"SCHEMAGUARD_XYZZY": 1})
    message = str(info.value)
    assert "SCHEMAGUARD_XYZZY" in message and "SCHEMAGUARD_MODE," in message


def test_good_config_forms_are_normalised(tmp_path: Path) -> None:
    config = {
        "SCHEMAGUARD_MODE": "CHECK",
        "SCHEMAGUARD_RUN_ON": "manual",
        "SCHEMAGUARD_ALLOWED_OPERATIONS": "create_table, add_column",
        "SCHEMAGUARD_EXCLUDE_TABLES": "legacy_*,tmp",
        "SCHEMAGUARD_LOCK_TIMEOUT": 0,
        "SCHEMAGUARD_DDL_LOCK_TIMEOUT": 0.5,
        "SCHEMAGUARD_HEALTH_URL": None,
        "SCHEMAGUARD_CORS_ORIGINS": ["https://app.example.com", "http://localhost:5173"],
        "SCHEMAGUARD_MIGRATIONS_DIR": tmp_path,
        "SCHEMAGUARD_AUDIT_TABLE": None,
    }
    app = fa.build_app(f"sqlite:///{tmp_path / 'app.db'}", tmp_path, config)
    cfg = state_of(app).config
    assert cfg.mode == "check" and cfg.run_on == "manual"
    assert cfg.allowed_operations == {"create_table", "add_column"}
    assert cfg.exclude_tables == ("legacy_*", "tmp")
    assert cfg.health_url is None and cfg.audit_table is None
    assert cfg.migrations_dir == str(tmp_path)
    assert cfg.cors_origins == ("https://app.example.com", "http://localhost:5173")
    assert "schemaguard_health.health" not in app.view_functions


# -- RUN_ON -------------------------------------------------------------------------------


def test_run_on_first_request_heals_once_for_concurrent_requests(
    db_url: str, tmp_path: Path, signals: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_RUN_ON": "first_request"})
    state = state_of(app)
    assert not state.startup_done
    assert LOGS not in fa.table_names(db_url)  # nothing ran at init

    heals: list[int] = []
    real_heal = state.runner.heal

    def slow_heal(**kwargs: Any) -> Any:
        heals.append(threading.get_ident())
        time.sleep(0.3)  # the other request arrives while this heal runs
        return real_heal(**kwargs)

    monkeypatch.setattr(state.runner, "heal", slow_heal)
    barrier = threading.Barrier(2)
    responses: list[Any] = []

    def hit() -> None:
        client = app.test_client()
        barrier.wait()
        responses.append(client.get("/logs"))

    threads = [threading.Thread(target=hit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in responses] == [200, 200]  # neither ran before the heal
    assert len(heals) == 1
    assert len(signals["healed"]) == 1
    assert [r["table_name"] for r in fa.audit_rows(db_url)] == [LOGS, "runs"]
    assert state.startup_done
    app.test_client().get("/logs")
    assert len(heals) == 1


@fa.SQLITE_ONLY
def test_run_on_manual_only_via_api(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_RUN_ON": "manual"})
    assert app.test_client().get("/ping").data == b"pong"
    assert LOGS not in fa.table_names(db_url)
    result = SchemaGuard.heal(state_of(app).guard, app=app)
    assert {op.table for op in result.applied} == {LOGS, "runs"}
    assert LOGS in fa.table_names(db_url)
    assert result.after.in_sync


@pytest.mark.parametrize(
    ("argv", "skipped"),
    [
        (["/venv/bin/flask", "db", "upgrade"], True),
        (["flask", "--app", "myapp:create_app", "db", "migrate", "-m", "x"], True),
        (["flask", "-A", "myapp", "--debug", "schemaguard", "status"], True),
        (["/usr/lib/python3/site-packages/flask/__main__.py", "db", "upgrade"], True),
        (["flask", "--env-file", "db", "run"], False),
        (["flask", "run"], False),
        (["flask", "routes"], False),
        (["gunicorn", "db"], False),
        (["/venv/bin/pytest", "tests"], False),
        ([], False),
    ],
)
def test_running_skipped_command(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], skipped: bool
) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    assert _running_skipped_command() is skipped


@fa.SQLITE_ONLY
@pytest.mark.parametrize("command", ["db", "schemaguard"])
def test_flask_db_and_schemaguard_commands_skip_the_startup_heal(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    fa.old_schema(db_url)
    monkeypatch.setattr(sys, "argv", ["/venv/bin/flask", "--app", "app", command, "upgrade"])
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_RUN_ON": "first_request"})
    assert app.test_client().get("/ping").data == b"pong"
    assert fa.table_names(db_url) == {"runs"}
    assert state_of(app).startup_done


# -- modes --------------------------------------------------------------------------------


def test_mode_check_reports_only(
    db_url: str, tmp_path: Path, signals: dict[str, list[Any]]
) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"})
    assert fa.table_names(db_url) == {"runs"}  # not even the guard's own tables
    report = state_of(app).last_report
    assert report is not None and not report.in_sync
    assert len(signals["drift"]) == 1 and signals["drift"][0]["report"] is report
    assert signals["healed"] == [] and signals["failed"] == []
    # an explicit heal is a person's decision: it works in check mode
    result = state_of(app).guard.heal(app=app)
    assert len(result.applied) == 2 and result.after.in_sync


def test_mode_strict_raises_listing_what_remains(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    with pytest.raises(SchemaDriftError) as info:
        fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "strict"}, priority=True)
    assert "strict" in str(info.value)
    assert "priority" in str(info.value)
    assert [(i.kind, i.table, i.name) for i in info.value.report.errors] == [  # type: ignore[union-attr]
        (DriftKind.MISSING_COLUMN, "runs", "priority")
    ]
    assert LOGS in fa.table_names(db_url)  # it healed what it could first


@fa.SQLITE_ONLY
def test_mode_strict_starts_when_everything_heals(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "strict"})
    assert state_of(app).last_report is not None and state_of(app).last_report.in_sync


@fa.SQLITE_ONLY
def test_mode_off_does_nothing(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "off"})
    app.testing = False
    client = app.test_client()
    assert fa.table_names(db_url) == {"runs"}
    assert client.get("/logs").status_code == 500  # no schema error handlers
    assert client.get("/healthz/schema").status_code == 404
    result = app.test_cli_runner().invoke(args=["schemaguard", "heal"])
    assert result.exit_code == 2 and "off" in result.output
    with pytest.raises(SchemaGuardError, match="off"):
        state_of(app).guard.heal(app=app)


# -- unreachable database at startup --------------------------------------------------------


def unreachable_url(kind: str, tmp_path: Path) -> str:
    return {
        "sqlite": f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'app.db'}",
        "postgresql": "postgresql+psycopg://postgres:secret@127.0.0.1:1/test",
        "mysql": "mysql+pymysql://root@127.0.0.1:1/test",
    }[kind]


@pytest.mark.parametrize("mode", ["heal", "check"])
def test_unreachable_database_app_still_starts(
    db_kind: str,
    tmp_path: Path,
    mode: str,
    caplog: pytest.LogCaptureFixture,
    signals: dict[str, list[Any]],
) -> None:
    caplog.set_level(logging.INFO, logger="flask_schemaguard")
    started = time.monotonic()
    app = fa.build_app(unreachable_url(db_kind, tmp_path), tmp_path, {"SCHEMAGUARD_MODE": mode})
    assert time.monotonic() - started < 5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "cannot reach database" in errors[0].getMessage()
    assert "secret" not in caplog.text
    assert signals["drift"] == []
    assert len(signals["failed"]) == 1 and "Cannot reach database" in signals["failed"][0]["error"]
    response = app.test_client().get("/healthz/schema")
    assert response.status_code == 503
    assert response.json["status"] == "fail"
    assert response.json["checks"]["schema:drift"][0]["status"] == "fail"


def test_unreachable_database_strict_raises(db_kind: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaGuardError, match="cannot reach database") as info:
        fa.build_app(unreachable_url(db_kind, tmp_path), tmp_path, {"SCHEMAGUARD_MODE": "strict"})
    assert "secret" not in str(info.value)


def test_startup_check_retried_once_the_database_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app started before its database was there: a later request runs the startup heal."""
    url = unreachable_url("sqlite", tmp_path)
    app = fa.build_app(url, tmp_path)
    state = state_of(app)
    assert not state.startup_done
    client = app.test_client()
    os.makedirs(tmp_path / "no" / "such" / "dir")
    fa.old_schema(url)
    client.get("/healthz/schema")  # too early: the retry waits STARTUP_RETRY_INTERVAL
    assert LOGS not in fa.table_names(url)
    monkeypatch.setattr(flask_schemaguard.extension, "STARTUP_RETRY_INTERVAL", 0.0)
    state.startup_retry_at = 0.0
    assert client.get("/logs").status_code == 200
    assert state.startup_done and LOGS in fa.table_names(url)


# -- Alembic / Flask-Migrate --------------------------------------------------------------


def migrate_setup(directory: Path) -> Any:
    """Flask-Migrate on the app, with two real revisions; the database stamped at the first."""
    import flask_migrate

    def setup(app: Flask, models: Any) -> None:
        flask_migrate.Migrate(app, models.db, directory=str(directory))
        with app.app_context(), alembic_isolated():
            flask_migrate.init(str(directory))
            flask_migrate.revision(str(directory), message="first", rev_id="0001")
            flask_migrate.revision(str(directory), message="second", rev_id="0002")
            flask_migrate.stamp(str(directory), revision="0001")

    return setup


def test_pending_migrations_block_healing(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_schemaguard")
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, setup=migrate_setup(tmp_path / "migrations"))
    assert fa.table_names(db_url) == {"runs", "alembic_version"}  # nothing healed
    report = state_of(app).last_report
    assert report is not None
    pending = report.by_kind(DriftKind.PENDING_MIGRATIONS)
    assert len(pending) == 1 and "0001" in pending[0].detail and "0002" in pending[0].detail
    assert "flask db upgrade" in caplog.text

    cli = app.test_cli_runner()
    status = cli.invoke(args=["schemaguard", "status"])
    assert status.exit_code == 1
    assert "pending_migrations" in status.output and "flask db upgrade" in status.output
    app.debug = True
    health = app.test_client().get("/healthz/schema")
    assert health.status_code == 503  # a missing table is error-level drift
    assert "pending_migrations" in [d["kind"] for d in health.json["details"]]
    assert cli.invoke(args=["schemaguard", "heal"]).exit_code == 1
    assert LOGS not in fa.table_names(db_url)

    # the real `flask db upgrade` (empty revisions), then the guard heals again
    with alembic_isolated():
        upgrade = cli.invoke(args=["db", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    healed = cli.invoke(args=["schemaguard", "heal"])
    assert healed.exit_code == 0, healed.output
    assert LOGS in fa.table_names(db_url)


@fa.SQLITE_ONLY
def test_pending_migrations_alone_are_a_health_warning(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(
        db_url,
        tmp_path,
        {"SCHEMAGUARD_EXCLUDE_TABLES": ["runs", LOGS], "SCHEMAGUARD_HEALTH_TOKEN": "t0ken"},
        setup=migrate_setup(tmp_path / "migrations"),
    )
    response = app.test_client().get("/healthz/schema", headers={"Authorization": "Bearer t0ken"})
    assert response.status_code == 200
    assert response.json["status"] == "warn"
    assert [d["kind"] for d in response.json["details"]] == ["pending_migrations"]


# -- logging and signals --------------------------------------------------------------------


def test_logging_and_signals(
    db_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    signals: dict[str, list[Any]],
) -> None:
    caplog.set_level(logging.INFO, logger="flask_schemaguard")
    fa.old_schema(db_url, names=("same", "same"))
    # create_unique_index allowed: the unique index is tried on the existing table, and
    # fails over the duplicate names.
    allow = {"SCHEMAGUARD_ALLOWED_OPERATIONS": "create_table, add_column, create_unique_index"}
    app = fa.build_app(db_url, tmp_path, allow, priority=True, unique_name=True)
    records = [r for r in caplog.records if r.name == "flask_schemaguard"]
    info = [r.getMessage() for r in records if r.levelno == logging.INFO]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any(m.startswith("schemaguard: applied create_table step_execution_logs") for m in info)
    assert any(m.startswith("schemaguard: applied add_column runs.note") for m in info)
    assert any("failed create_unique_index runs.ix_runs_name" in m for m in warnings)
    assert any("runs.priority" in m for m in warnings)
    summary = [m for m in info if m.startswith("schemaguard: heal applied")]
    assert summary == [summary[0]] and "applied 2, failed 1" in summary[0]

    assert [s["sender"] for s in signals["healed"]] == [app]
    assert {op.describe() for op in signals["healed"][0]["result"].applied} == {
        "create_table step_execution_logs",
        "add_column runs.note",
    }
    assert len(signals["failed"]) == 1
    failed = signals["failed"][0]
    failed_ops = [op.describe() for op, _e in failed["result"].failed]
    assert failed_ops == ["create_unique_index runs.ix_runs_name"]
    assert "ix_runs_name" in failed["error"]
    assert len(signals["drift"]) == 1
    kinds = {(i.kind, i.name) for i in signals["drift"][0]["report"].items}
    assert (DriftKind.MISSING_COLUMN, "priority") in kinds
    assert (DriftKind.MISSING_INDEX, "ix_runs_name") in kinds
    rows = fa.audit_rows(db_url)
    assert [(r["operation"], r["outcome"]) for r in rows] == [
        ("create_table", "applied"),
        ("add_column", "applied"),
        ("create_unique_index", "failed"),
    ]
    assert rows[2]["error"]


@fa.SQLITE_ONLY
def test_new_migration_script_defeats_the_fast_path(db_url: str, tmp_path: Path) -> None:
    """A revision added to the scripts is seen at the next start, even on an unchanged schema."""
    import flask_migrate

    directory = tmp_path / "migrations"

    def first_start(app: Flask, models: Any) -> None:
        flask_migrate.Migrate(app, models.db, directory=str(directory))
        with app.app_context(), alembic_isolated():
            flask_migrate.init(str(directory))
            flask_migrate.revision(str(directory), message="first", rev_id="0001")
            flask_migrate.stamp(str(directory), revision="0001")

    fa.old_schema(db_url)
    first = fa.build_app(db_url, tmp_path, setup=first_start, name="first")
    report = state_of(first).last_report
    assert report is not None and report.in_sync  # healed, and recorded for the fast path

    def second_start(app: Flask, models: Any) -> None:
        flask_migrate.Migrate(app, models.db, directory=str(directory))
        with app.app_context(), alembic_isolated():
            flask_migrate.revision(str(directory), message="second", rev_id="0002")

    second = fa.build_app(db_url, tmp_path, setup=second_start, name="second")
    report = state_of(second).last_report
    assert report is not None
    assert [i.kind for i in report.items] == [DriftKind.PENDING_MIGRATIONS]

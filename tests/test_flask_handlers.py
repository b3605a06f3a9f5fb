"""Error handlers: a request that hits a missing table or column gets DESIGN.md's problem JSON.

The errors come from the real servers (SQLite, PostgreSQL, MariaDB/MySQL). pytest-flask keeps
one app context over a test's requests, so they share one session, like a thread-scoped session
in a real app: a request after an error only works if the handler rolled the session back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import handlers, schema_healed

LOGS = "step_execution_logs"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SCHEMAGUARD_MODE": "check"}


@pytest.fixture
def app(db_url: str, tmp_path: Path, app_config: dict[str, Any]) -> Flask:
    fa.old_schema(db_url)
    return fa.build_app(db_url, tmp_path, app_config)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For behaviour that does not depend on the database (CORS, debug output)."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    fa.old_schema(url)
    return url


@pytest.fixture
def healed_count() -> Iterator[list[Any]]:
    seen: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs["result"])

    schema_healed.connect(receiver)
    try:
        yield seen
    finally:
        schema_healed.disconnect(receiver)


def missing_table_problem(healed: bool) -> dict[str, Any]:
    return {
        "type": "urn:schemaguard:schema-drift",
        "title": "Database schema out of date",
        "status": 503,
        "code": "SCHEMA_DRIFT",
        "detail": "Table 'step_execution_logs' does not exist in the database.",
        "drift": "missing_table",
        "table": LOGS,
        "column": None,
        "healed": healed,
    }


def missing_column_problem(healed: bool) -> dict[str, Any]:
    return {
        "type": "urn:schemaguard:schema-drift",
        "title": "Database schema out of date",
        "status": 503,
        "code": "SCHEMA_DRIFT",
        "detail": "Column 'runs.note' does not exist in the database.",
        "drift": "missing_column",
        "table": "runs",
        "column": "note",
        "healed": healed,
    }


def assert_problem(response: Any, body: dict[str, Any]) -> None:
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert response.get_json(force=True) == body
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "no-store"
    if body["healed"]:
        assert response.headers["Retry-After"] == "0"
    else:
        assert "Retry-After" not in response.headers


# -- missing table / column, check mode -------------------------------------------------------


def test_missing_table_gives_the_problem_json_and_the_next_request_works(
    app: Flask, client: Any
) -> None:
    assert_problem(client.get("/logs"), missing_table_problem(healed=False))
    assert client.get("/runs").status_code == 200
    # a failed flush leaves the session needing a rollback (seed 002): the handler did it
    assert_problem(client.post("/logs", json={"message": "m"}), missing_table_problem(False))
    assert client.get("/runs").json == [{"id": 1, "name": "first", "note": None}]
    assert client.get("/runs/count").json == {"count": 1}


@pytest.mark.parametrize(
    "app_config",
    [{"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_DEGRADE_MISSING_COLUMNS": False}],
    ids=["check-no-degrade"],
)
def test_missing_column_gives_the_problem_json(app: Flask, client: Any) -> None:
    assert_problem(client.get("/runs"), missing_column_problem(healed=False))
    assert client.get("/ping").status_code == 200
    # raw SQL: PostgreSQL does not name the table, it is read from the statement
    assert_problem(client.get("/raw-note"), missing_column_problem(healed=False))
    assert_problem(client.get("/runs/count"), missing_column_problem(healed=False))


def test_pending_rollback_error_after_a_swallowed_schema_error(app: Flask, client: Any) -> None:
    """The app swallowed the flush error; its next query raises PendingRollbackError."""
    assert_problem(client.get("/swallowed"), missing_table_problem(healed=False))
    assert client.get("/runs/count").json == {"count": 1}


# -- heal on error ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_config", [{"SCHEMAGUARD_MODE": "heal", "SCHEMAGUARD_RUN_ON": "manual"}], ids=["heal"]
)
def test_heal_on_error_heals_the_table_once_per_30_seconds(
    app: Flask,
    client: Any,
    db_url: str,
    healed_count: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert LOGS not in fa.table_names(db_url)
    assert_problem(client.get("/logs"), missing_table_problem(healed=True))
    assert [op.describe() for op in healed_count[0].applied] == [f"create_table {LOGS}"]
    assert client.get("/logs").json == []  # the retry succeeds
    assert client.post("/logs", json={"message": "m"}).status_code == 201

    # someone drops the table again: within 30 s the same target is not healed again
    fa.models_of(app).db.session.rollback()  # let the DROP have its lock
    fa.execute(db_url, f"DROP TABLE {LOGS}")
    assert_problem(client.get("/logs"), missing_table_problem(healed=False))
    assert len(healed_count) == 1
    assert [r["table_name"] for r in fa.audit_rows(db_url)] == [LOGS]

    # ...and after the interval it is
    monkeypatch.setattr(handlers, "HEAL_ON_ERROR_INTERVAL", 0.0)
    assert_problem(client.get("/logs"), missing_table_problem(healed=True))
    assert len(healed_count) == 2
    assert client.get("/logs").json == []


@pytest.mark.parametrize(
    "app_config", [{"SCHEMAGUARD_MODE": "heal", "SCHEMAGUARD_RUN_ON": "manual"}], ids=["heal"]
)
def test_heal_on_error_heals_a_missing_column(app: Flask, client: Any, db_url: str) -> None:
    assert_problem(client.get("/runs"), missing_column_problem(healed=True))
    assert "note" in fa.column_names(db_url, "runs")
    assert LOGS not in fa.table_names(db_url)  # only the failing table is healed
    assert client.get("/runs").json == [{"id": 1, "name": "first", "note": None}]
    assert client.post("/runs", json={"id": 2, "name": "x", "note": "n"}).status_code == 201


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "SCHEMAGUARD_MODE": "heal",
            "SCHEMAGUARD_RUN_ON": "manual",
            "SCHEMAGUARD_EXCLUDE_TABLES": ["step_*"],
        }
    ],
    ids=["excluded"],
)
@fa.SQLITE_ONLY
def test_heal_on_error_leaves_excluded_tables_alone(app: Flask, client: Any, db_url: str) -> None:
    assert_problem(client.get("/logs"), missing_table_problem(healed=False))
    assert LOGS not in fa.table_names(db_url)


def test_heal_on_error_off_in_check_mode_and_when_disabled(sqlite_url: str, tmp_path: Path) -> None:
    app = fa.build_app(
        sqlite_url,
        tmp_path,
        {"SCHEMAGUARD_RUN_ON": "manual", "SCHEMAGUARD_HEAL_ON_ERROR": False},
    )
    assert app.test_client().get("/logs").get_json(force=True)["healed"] is False
    assert LOGS not in fa.table_names(sqlite_url)


# -- other database errors keep the app's own handling -------------------------------------


def test_other_database_errors_reach_the_apps_handler(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)

    def setup(app: Flask, models: Any) -> None:
        @app.errorhandler(sa.exc.SQLAlchemyError)
        def database_error(exc: sa.exc.SQLAlchemyError) -> Any:
            models.db.session.rollback()
            return {"handled_by": "app", "error": type(exc).__name__}, 409

    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, setup=setup)
    client = app.test_client()
    unique = client.get("/duplicate")  # IntegrityError: unique violation on the primary key
    assert unique.status_code == 409
    assert unique.json == {"handled_by": "app", "error": "IntegrityError"}
    syntax = client.get("/syntax")  # ProgrammingError (OperationalError on SQLite): ours first
    assert syntax.status_code == 409 and syntax.json["handled_by"] == "app"
    assert syntax.json["error"] in ("ProgrammingError", "OperationalError")
    # schema errors are still ours
    assert client.get("/logs").status_code == 503


def test_other_database_errors_without_an_app_handler_are_500(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"})
    app.testing = False  # a real 500 rather than the exception propagated to the test
    client = app.test_client()
    for url in ("/syntax", "/duplicate"):
        response = client.get(url)
        assert response.status_code == 500
        assert response.mimetype == "text/html"
    app.testing = True
    with pytest.raises(sa.exc.DBAPIError):
        client.get("/syntax")


def test_error_handlers_can_be_switched_off(sqlite_url: str, tmp_path: Path) -> None:
    app = fa.build_app(
        sqlite_url, tmp_path, {"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_ERROR_HANDLERS": False}
    )
    with pytest.raises(sa.exc.OperationalError):
        app.test_client().get("/logs")


# -- CORS and debug output ------------------------------------------------------------------


def test_cors_origin_list_echoes_matching_origins(sqlite_url: str, tmp_path: Path) -> None:
    origins = ["https://app.example.com", "http://localhost:5173"]
    app = fa.build_app(
        sqlite_url, tmp_path, {"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_CORS_ORIGINS": origins}
    )
    client = app.test_client()
    allowed = client.get("/logs", headers={"Origin": "http://localhost:5173"})
    assert allowed.status_code == 503
    assert allowed.headers.getlist("Access-Control-Allow-Origin") == ["http://localhost:5173"]
    assert "Origin" in allowed.vary
    assert allowed.headers["Access-Control-Expose-Headers"] == "Retry-After"
    other = client.get("/logs", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.vary
    no_origin = client.get("/logs")
    assert "Access-Control-Allow-Origin" not in no_origin.headers


def test_cors_can_be_switched_off(sqlite_url: str, tmp_path: Path) -> None:
    app = fa.build_app(
        sqlite_url, tmp_path, {"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_CORS_ORIGINS": None}
    )
    response = app.test_client().get("/logs", headers={"Origin": "https://app.example.com"})
    assert response.status_code == 503
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("scope", ["app", "blueprint-elsewhere"])
def test_flask_cors_headers_are_kept_not_duplicated(
    sqlite_url: str, tmp_path: Path, scope: str
) -> None:
    from flask import Blueprint
    from flask_cors import CORS

    def setup(app: Flask, models: Any) -> None:
        if scope == "app":
            CORS(app, origins=["https://app.example.com"], supports_credentials=True)
        else:  # flask-cors on a blueprint this request does not go through: ours apply
            blueprint = Blueprint("api", __name__)
            CORS(blueprint, origins=["https://app.example.com"])
            app.register_blueprint(blueprint, url_prefix="/api")

    app = fa.build_app(sqlite_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, setup=setup)
    response = app.test_client().get("/logs", headers={"Origin": "https://app.example.com"})
    assert response.status_code == 503 and response.mimetype == PROBLEM
    if scope == "app":
        assert response.headers.getlist("Access-Control-Allow-Origin") == [
            "https://app.example.com"
        ]
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
    else:
        assert response.headers.getlist("Access-Control-Allow-Origin") == ["*"]


@pytest.mark.parametrize("debug", [False, True])
def test_sql_only_in_debug_and_never_parameters(
    sqlite_url: str, tmp_path: Path, debug: bool
) -> None:
    app = fa.build_app(sqlite_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, debug=debug)
    response = app.test_client().get("/logs/search?q=secret-value")
    body = response.get_json(force=True)
    assert "secret-value" not in response.get_data(as_text=True)
    if debug:
        assert body["sql"].startswith("SELECT") and LOGS in body["sql"]
    else:
        assert "sql" not in body


@fa.SQLITE_ONLY
def test_strict_first_request_refuses_to_serve_until_the_drift_is_fixed(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_schemaguard import extension

    fa.old_schema(db_url)
    app = fa.build_app(
        db_url,
        tmp_path,
        {"SCHEMAGUARD_MODE": "strict", "SCHEMAGUARD_RUN_ON": "first_request"},
        priority=True,
    )
    state = app.extensions["schemaguard"]
    checks: list[int] = []
    real_heal = state.runner.heal
    monkeypatch.setattr(state.runner, "heal", lambda **kw: checks.append(1) or real_heal(**kw))
    client = app.test_client()
    for _ in range(2):  # the second answer comes from the first check (no re-check for 30 s)
        response = client.get("/ping")
        assert response.status_code == 503 and response.mimetype == PROBLEM
        body = response.get_json(force=True)
        found = (body["drift"], body["table"], body["column"])
        assert found == ("missing_column", "runs", "priority")
        assert "strict" in body["detail"]
    assert len(checks) == 1
    assert LOGS in fa.table_names(db_url)  # strict heals what it can first
    fa.execute(db_url, "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    monkeypatch.setattr(extension, "STARTUP_RETRY_INTERVAL", 0.0)
    state.startup_retry_at = 0.0
    assert client.get("/ping").status_code == 200
    assert client.get("/runs").status_code == 200
    assert len(checks) == 2 and state.startup_done

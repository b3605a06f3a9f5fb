"""Error handlers chain: the guard answers schema drift; every other database error goes to
the handler the app registered for it (before or after the guard, on the app or on a
blueprint), found in Flask's own order. Real errors from SQLite, PostgreSQL and MariaDB.

``/syntax`` runs ``SELEC 1``: an OperationalError on SQLite, a ProgrammingError on PostgreSQL
and MariaDB, the same classes the guard handles for missing tables and columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask

PROBLEM = "application/problem+json"
SAME_CLASSES = (sa.exc.OperationalError, sa.exc.ProgrammingError)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


def app_handler(models: Any, name: str, status: int = 409) -> Any:
    def handler(exc: Exception) -> Any:
        models.db.session.rollback()
        return {"handled_by": name, "error": type(exc).__name__}, status

    return handler


def assert_guard(response: Any) -> None:
    assert response.status_code == 503 and response.mimetype == PROBLEM
    assert response.json["drift"] == "missing_table"


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_app_handler_for_the_same_exception_gets_the_other_errors(
    db_url: str, tmp_path: Path, when: str
) -> None:
    fa.old_schema(db_url)

    def register(app: Flask, models: Any) -> None:
        for cls in SAME_CLASSES:
            app.register_error_handler(cls, app_handler(models, f"app-{when}"))

    app = fa.build_app(
        db_url,
        tmp_path,
        {"SCHEMAGUARD_MODE": "check"},
        setup=register if when == "before" else None,
    )
    if when == "after":
        register(app, fa.models_of(app))
    client = app.test_client()
    for _ in range(2):
        assert_guard(client.get("/logs"))  # drift: the guard's problem JSON
        syntax = client.get("/syntax")  # not drift: the app's handler, as if alone
        assert syntax.status_code == 409, syntax.get_data(as_text=True)
        assert syntax.json["handled_by"] == f"app-{when}"
        assert syntax.json["error"] in ("OperationalError", "ProgrammingError")
    assert client.get("/runs/count").json == {"count": 1}


def test_blueprint_handlers_come_before_app_handlers_as_in_flask(
    db_url: str, tmp_path: Path
) -> None:
    fa.old_schema(db_url)

    def register(app: Flask, models: Any) -> None:
        api = Blueprint("api", __name__)

        @api.get("/syntax")
        def api_syntax() -> Any:
            models.db.session.execute(sa.text("SELEC 1"))
            return "unreachable"

        @api.get("/logs")
        def api_logs() -> Any:
            return [log.message for log in models.StepLog.query.all()]

        # a broader class on the blueprint wins over the exact class on the app, in Flask
        api.register_error_handler(sa.exc.SQLAlchemyError, app_handler(models, "blueprint"))
        app.register_blueprint(api, url_prefix="/api")
        for cls in SAME_CLASSES:
            app.register_error_handler(cls, app_handler(models, "app"))

    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, setup=register)
    client = app.test_client()
    assert client.get("/api/syntax").json["handled_by"] == "blueprint"
    assert client.get("/syntax").json["handled_by"] == "app"
    assert_guard(client.get("/api/logs"))  # drift in the blueprint: still the guard's
    assert_guard(client.get("/logs"))


@fa.SQLITE_ONLY
def test_a_blueprint_registered_after_the_guard_is_chained_too(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"})
    models = fa.models_of(app)
    api = Blueprint("late", __name__)

    @api.get("/logs")
    def late_logs() -> Any:
        return [log.message for log in models.StepLog.query.all()]

    @api.get("/syntax")
    def late_syntax() -> Any:
        models.db.session.execute(sa.text("SELEC 1"))
        return "unreachable"

    api.register_error_handler(Exception, app_handler(models, "catch-all", 500))
    app.register_blueprint(api, url_prefix="/late")
    client = app.test_client()
    assert_guard(client.get("/late/logs"))
    assert client.get("/late/syntax").json["handled_by"] == "catch-all"


@fa.SQLITE_ONLY
def test_the_apps_own_schema_drift_handler_wins(db_url: str, tmp_path: Path) -> None:
    from flask_schemaguard import SchemaDriftError

    fa.old_schema(db_url)

    def register(app: Flask, models: Any) -> None:
        app.register_error_handler(SchemaDriftError, app_handler(models, "app-drift", 503))

    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, setup=register)
    response = app.test_client().post("/runs", json={"id": 2, "name": "x", "note": "n"})
    assert response.json == {"handled_by": "app-drift", "error": "SchemaDriftError"}

"""Refresh: after a heal the ORM sees the new schema; a mapped column the database still lacks
is degraded (queries work, the attribute reads None, writing it raises SchemaDriftError).

All on SQLite, PostgreSQL and MariaDB/MySQL, with pytest-flask's ``app``/``client`` (the test
body runs inside the app's request context, so ``db.session`` is the app's session).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import SchemaDriftError
from flask_schemaguard import orm_refresh as refresh

LOGS = "step_execution_logs"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()
    assert refresh.degraded_columns() == []


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SCHEMAGUARD_MODE": "check"}


@pytest.fixture
def app_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def app(
    db_url: str, tmp_path: Path, app_config: dict[str, Any], app_options: dict[str, Any]
) -> Flask:
    assert refresh.degraded_columns() == []  # nothing leaked from an earlier test
    fa.old_schema(db_url, names=("first", "second"))
    return fa.build_app(db_url, tmp_path, app_config, **app_options)


def assert_degraded_column_works(app: Flask, column: str) -> None:
    """The ORM queries a model whose ``column`` the database lacks; writing it raises."""
    models = fa.models_of(app)
    db, Run = models.db, models.Run
    assert refresh.degraded_columns() == [f"runs.{column}"]
    runs = db.session.query(Run).order_by(Run.id).all()
    assert [(r.id, r.name, getattr(r, column)) for r in runs] == [
        (1, "first", None),
        (2, "second", None),
    ]
    assert Run.query.count() == 2
    assert db.session.execute(sa.select(Run).where(Run.name == "second")).scalar_one().id == 2
    run = db.session.get(Run, 1)
    assert run is not None and getattr(run, column) is None
    with pytest.raises(SchemaDriftError) as info:
        setattr(run, column, 7 if column == "priority" else "a note")
    assert (info.value.table, info.value.column) == ("runs", column)
    assert f"'runs.{column}'" in str(info.value)
    # writing None, or leaving the column out, still works: inserts and updates skip it
    setattr(run, column, None)
    run.name = "renamed"
    db.session.add(Run(id=3, name="third"))
    db.session.commit()
    names = [r.name for r in db.session.query(Run).order_by(Run.id)]
    assert names == ["renamed", "second", "third"]


def test_check_mode_degrades_a_missing_nullable_column(app: Flask, client: Any) -> None:
    assert_degraded_column_works(app, "note")
    assert client.get("/runs/count").json == {"count": 3}
    assert client.get("/runs/2").json == {"id": 2, "name": "second", "note": None}
    response = client.post("/runs", json={"id": 4, "name": "fourth", "note": "x"})
    assert response.status_code == 503  # SchemaDriftError -> problem JSON, session rolled back
    assert response.json["column"] == "note" and response.json["table"] == "runs"
    assert client.post("/runs", json={"id": 4, "name": "fourth"}).status_code == 201


@pytest.mark.parametrize("app_config", [{"SCHEMAGUARD_MODE": "heal"}], ids=["heal"])
@pytest.mark.parametrize("app_options", [{"priority": True}], ids=["not-null"])
def test_heal_mode_degrades_a_not_null_column_without_default(
    app: Flask, client: Any, db_url: str
) -> None:
    assert fa.column_names(db_url, "runs") == {"id", "name", "note"}  # note healed
    assert LOGS in fa.table_names(db_url)
    report = app.extensions["schemaguard"].last_report
    assert [(i.kind.value, i.name) for i in report.errors] == [("missing_column", "priority")]
    assert_degraded_column_works(app, "priority")
    assert client.get("/runs").status_code == 200


@pytest.mark.parametrize(
    "app_config",
    [{"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_DEGRADE_MISSING_COLUMNS": False}],
    ids=["no-degrade"],
)
@fa.SQLITE_ONLY
def test_degrading_can_be_switched_off(app: Flask, client: Any) -> None:
    assert refresh.degraded_columns() == []
    response = client.get("/runs")
    assert response.status_code == 503
    assert (response.json["drift"], response.json["table"], response.json["column"]) == (
        "missing_column",
        "runs",
        "note",
    )


def test_after_a_heal_requests_see_the_new_schema(app: Flask, client: Any, db_url: str) -> None:
    # warm up: pooled connections and compiled statements of the old schema
    for _ in range(2):
        assert client.get("/runs").status_code == 200
        assert client.get("/runs/1").status_code == 200
    # pytest-flask keeps one app context (so one session) over the test's requests: end its
    # transaction, as the end of a real request would (an open one blocks the DDL until
    # SCHEMAGUARD_DDL_LOCK_TIMEOUT on PostgreSQL and MySQL)
    fa.models_of(app).db.session.rollback()
    guard = app.extensions["schemaguard"].guard
    result = guard.heal(app=app)
    assert {op.describe() for op in result.applied} == {
        "create_table step_execution_logs",
        "add_column runs.note",
    }
    assert refresh.degraded_columns() == []  # the real mapping is back
    assert client.post("/runs", json={"id": 3, "name": "third", "note": "hello"}).status_code == 201
    models = fa.models_of(app)
    run = models.db.session.get(models.Run, 1)
    run.note = "written"  # no SchemaDriftError any more
    models.db.session.commit()
    assert client.get("/runs").json == [
        {"id": 1, "name": "first", "note": "written"},
        {"id": 2, "name": "second", "note": None},
        {"id": 3, "name": "third", "note": "hello"},
    ]
    assert client.get("/logs").json == []
    assert "note" in fa.column_names(db_url, "runs")


@fa.SQLITE_ONLY
def test_degrade_state_does_not_leak_between_apps(db_url: str, tmp_path: Path) -> None:
    """A second app whose database has the column maps it normally (fresh models)."""
    fa.old_schema(db_url)
    checked = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, name="checked")
    assert refresh.degraded_columns() == ["runs.note"]
    fa.cleanup()
    assert refresh.degraded_columns() == []
    healed = fa.build_app(db_url, tmp_path, name="healed")
    assert refresh.degraded_columns() == []
    with healed.test_request_context():
        models = fa.models_of(healed)
        run = models.db.session.get(models.Run, 1)
        run.note = "fine"
        models.db.session.commit()
    assert checked is not healed

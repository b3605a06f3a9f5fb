"""The CLI and the health endpoint tell the truth in every state; config keys are checked;
the audit trail is scoped by bind, time and retention; Alembic leaves the guard's tables alone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import make_database
from flask import Flask

from flask_schemaguard import SchemaGuard, SchemaGuardError
from flask_schemaguard.alembic import include_name, include_object
from flask_schemaguard.engine.owned_tables import audit_table


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["schemaguard", *args])


UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-directory/app.db",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:1/test",
}


@pytest.fixture
def down_app(db_kind: str) -> Iterator[Flask]:
    """An app whose database cannot be reached (check mode, so startup only logs it)."""
    md = sa.MetaData()
    sa.Table("runs", md, sa.Column("id", sa.Integer, primary_key=True))
    engine = sa.create_engine(UNREACHABLE[db_kind])
    app = Flask("down")
    app.config.update(SCHEMAGUARD_MODE="check", SCHEMAGUARD_HEALTH_TOKEN="t0ken")
    SchemaGuard(app, metadata=md, engine=engine)
    yield app
    engine.dispose()


def test_plan_and_heal_on_an_unreachable_database_exit_2(down_app: Flask) -> None:
    for command in ("plan", "heal"):
        result = run(down_app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "unreachable" in result.output and "nothing to do" not in result.output
        assert "0 applied, 0 failed" not in result.output.splitlines()[-1]


def test_health_of_an_unreachable_database_counts_no_drift(down_app: Flask) -> None:
    response = down_app.test_client().get(
        "/healthz/schema", headers={"Authorization": "Bearer t0ken"}
    )
    assert response.status_code == 503 and response.json["status"] == "fail"
    (component,) = response.json["checks"]["schema:drift"]
    assert "observedValue" not in component
    assert component["output"].startswith("database unreachable")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("SCHEMAGUARD_MDOE", "did you mean SCHEMAGUARD_MODE?"),
        ("SCHEMA_GUARD_MODE", "did you mean SCHEMAGUARD_MODE?"),
        ("schemaguard_mode", "did you mean SCHEMAGUARD_MODE?"),
        ("SCHEMAGUARD_AUDIT_RETENTION_DAYZ", "did you mean SCHEMAGUARD_AUDIT_RETENTION_DAYS?"),
    ],
)
def test_misspelled_keys_are_refused_with_a_suggestion(key: str, suggestion: str) -> None:
    app = Flask("keys")
    app.config[key] = "check"
    with pytest.raises(SchemaGuardError, match=f"key {key}: {suggestion}"):
        SchemaGuard(app, metadata=sa.MetaData(), engine=sa.create_engine("sqlite://"))


@pytest.mark.parametrize("value", [0, -1, float("inf"), "30", True])
def test_retention_days_must_be_a_positive_number(value: object) -> None:
    app = Flask("retention")
    app.config["SCHEMAGUARD_AUDIT_RETENTION_DAYS"] = value
    with pytest.raises(SchemaGuardError, match="SCHEMAGUARD_AUDIT_RETENTION_DAYS"):
        SchemaGuard(app, metadata=sa.MetaData(), engine=sa.create_engine("sqlite://"))


@pytest.fixture
def events_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    directory = tmp_path / "events"
    directory.mkdir()
    yield from make_database(db_kind, directory)


def _old_events(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE events (id INTEGER PRIMARY KEY)")
    engine.dispose()


def test_plan_heal_history_take_bind_and_since(
    db_url: str, events_url: str, tmp_path: Path
) -> None:
    fa.old_schema(db_url)
    _old_events(events_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, events_url=events_url)
    plan = run(app, "plan", "--bind", "events")
    assert plan.exit_code == 0 and "create_table events" not in plan.output
    assert "step_execution_logs" not in plan.output  # the default bind's drift
    assert "nothing to do" in plan.output or "(events)" in plan.output
    assert run(app, "plan", "--bind", "nope").exit_code == 2

    healed = run(app, "heal", "--bind", "default")
    assert healed.exit_code in (0, 1), healed.output
    assert "create_table step_execution_logs" in healed.output
    rows = json.loads(run(app, "history", "--json", "--bind", "default").output)
    assert rows and {r["bind"] for r in rows} == {None}
    assert all(r["created_at"].endswith("Z") for r in rows)
    assert json.loads(run(app, "history", "--json", "--bind", "events").output) == []
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    assert run(app, "history", "--since", future).output.strip() == "no operations recorded"
    assert run(app, "history", "--since", "yesterday-ish").exit_code == 2


def test_retention_prunes_old_audit_rows_at_each_heal(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"})
    assert run(app, "heal").exit_code in (0, 1)
    old = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=100)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(audit_table("schemaguard_events").update().values(created_at=old))
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN extra INTEGER")  # a new fingerprint
        conn.exec_driver_sql("DROP TABLE step_execution_logs")  # something to heal again
    engine.dispose()
    fa.cleanup()
    app = fa.build_app(
        db_url, tmp_path, {"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_AUDIT_RETENTION_DAYS": 30}
    )
    assert run(app, "heal").exit_code in (0, 1)
    rows = fa.audit_rows(db_url)
    cutoff = old.isoformat(sep=" ")[:19]
    assert rows and all(str(r["created_at"])[:19] > cutoff for r in rows), rows


def test_alembic_autogenerate_leaves_the_guards_tables_alone(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path)  # heal mode: the guard's tables exist now
    engine = sa.create_engine(db_url)
    metadata = app.extensions["sqlalchemy"].metadata
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            assert {"schemaguard_events", "schemaguard_state"} <= names
            plain = MigrationContext.configure(conn)
            removed = {
                d[1].name for d in compare_metadata(plain, metadata) if d[0] == "remove_table"
            }
            assert {"schemaguard_events", "schemaguard_state"} <= removed  # without the hooks
            for hooks in ({"include_name": include_name}, {"include_object": include_object}):
                context = MigrationContext.configure(conn, opts=hooks)
                diffs = compare_metadata(context, metadata)
                assert not [d for d in diffs if "schemaguard_" in repr(d)], diffs
    finally:
        engine.dispose()


def test_the_guard_registers_its_hook_with_flask_migrate(db_url: str, tmp_path: Path) -> None:
    import flask_migrate

    def setup(app: Flask, models: Any) -> None:
        flask_migrate.Migrate(app, models.db, directory=os.fspath(tmp_path / "migrations"))

    app = fa.build_app(db_url, tmp_path, setup=setup)
    assert app.extensions["migrate"].configure_args["include_name"] is include_name

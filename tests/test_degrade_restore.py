"""While drift remains the app keeps serving; when it is gone the app notices.

On SQLite, PostgreSQL and MariaDB/MySQL: a column another process adds (raw DDL, or the real
``flask db upgrade`` through Flask-Migrate and Alembic) is mapped again by the running app
within one re-check period, through a request that reads the model or a health poll; the
re-checks cost nothing while nothing is degraded; and a heal that fails or is not allowed still
leaves the app degraded (serving) rather than answering 503.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import degrade_apps as da
import flask_apps as fa
import pytest
from flask import Flask

from flask_schemaguard import orm_refresh as refresh
from flask_schemaguard.report import DriftKind

PERIOD = 1.0  # SCHEMAGUARD_HEALTH_CACHE_SECONDS: the re-check period of these tests
ADD_SOURCE = "ALTER TABLE notes ADD COLUMN source VARCHAR(20)"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()
    assert refresh.degraded_columns() == []


def another_process(db_url: str, *statements: str) -> None:
    """Run SQL from a separate Python process (another worker, a deploy script)."""
    code = textwrap.dedent(
        """
        import sys, sqlalchemy as sa
        engine = sa.create_engine(sys.argv[1])
        with engine.begin() as conn:
            for statement in sys.argv[2:]:
                conn.exec_driver_sql(statement)
        engine.dispose()
        """
    )
    subprocess.run([sys.executable, "-c", code, db_url, *statements], check=True, timeout=60)


def wait_until(condition: Callable[[], bool], limit: float) -> float:
    """Seconds until ``condition()`` held (polled every 50 ms); fails after ``limit``."""
    start = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - start
        assert elapsed < limit, f"not within {limit:g} s"
        time.sleep(0.05)
    return time.monotonic() - start


def build(db_url: str, tmp_path: Path, **config: Any) -> Flask:
    da.old_schema(db_url)
    app = da.build_app(db_url, tmp_path, {"SCHEMAGUARD_HEALTH_CACHE_SECONDS": PERIOD, **config})
    assert refresh.degraded_columns() == da.MISSING
    return app


# -- restore ----------------------------------------------------------------------------------


def test_a_column_another_process_adds_is_mapped_again_by_a_request(
    db_url: str, tmp_path: Path
) -> None:
    app = build(db_url, tmp_path)
    client = app.test_client()
    assert client.get("/notes/1").json["source"] is None
    another_process(db_url, ADD_SOURCE, "UPDATE notes SET source = 'green'")
    # requests go on reading the model: one of them starts the re-check (its own thread)
    took = wait_until(lambda: client.get("/notes/1").json["source"] == "green", PERIOD + 5)
    assert took < PERIOD + 3
    assert refresh.degraded_columns() == [c for c in da.MISSING if c != "notes.source"]
    created = client.post("/notes", json={"id": 2, "body": "b", "source": "api"})
    assert created.status_code == 201 and created.json["source"] == "api"
    default = client.post("/notes", json={"id": 3, "body": "c"})  # the default is written again
    assert default.json["source"] == "web"
    assert fa.scalar(db_url, "SELECT source FROM notes WHERE id = 3") == "web"


def add_all_columns(db_kind: str) -> list[str]:
    timestamp = "DATETIME" if db_kind == "mysql" else "TIMESTAMP"
    columns = "source VARCHAR(20)", "serial INTEGER", f"edited_at {timestamp}", "author_id INTEGER"
    return [f"ALTER TABLE notes ADD COLUMN {c}" for c in columns]


def test_a_health_poll_maps_the_columns_again(db_kind: str, db_url: str, tmp_path: Path) -> None:
    app = build(db_url, tmp_path)
    client = app.test_client()
    assert client.get("/healthz/schema").status_code == 503
    another_process(db_url, *add_all_columns(db_kind))
    time.sleep(PERIOD)  # the health report is cached for one period
    health = client.get("/healthz/schema")
    assert health.status_code == 200  # pass, or warn for the foreign key the ALTER left out
    wait_until(lambda: probe_done(app), 5)  # the probe's thread, right after its answer
    assert refresh.degraded_columns() == []  # no request read a model: the poll restored them
    assert client.patch("/notes/1", json={"author_id": 1}).status_code == 200
    assert client.get("/authors/1").json["notes"] == [1]


def write_flask_app(directory: Path) -> None:
    """A Flask app module for the ``flask`` CLI in another process: Flask-Migrate + the guard."""
    (directory / "notesapp.py").write_text(
        textwrap.dedent(
            """
            import os
            from flask import Flask
            from flask_migrate import Migrate
            from flask_sqlalchemy import SQLAlchemy
            from flask_schemaguard import SchemaGuard

            db = SQLAlchemy()

            def create_app():
                app = Flask(__name__)
                app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["NOTES_DB_URL"]
                db.init_app(app)
                Migrate(app, db, directory=os.environ["NOTES_MIGRATIONS"])
                SchemaGuard(app)
                return app
            """
        )
    )


REVISIONS = {
    "0001_first.py": """
        revision = "0001"
        down_revision = None

        def upgrade():
            pass

        def downgrade():
            pass
        """,
    "0002_source.py": """
        import sqlalchemy as sa
        from alembic import op

        revision = "0002"
        down_revision = "0001"

        def upgrade():
            op.add_column("notes", sa.Column("source", sa.String(20)))
            op.execute("UPDATE notes SET source = 'migrated'")

        def downgrade():
            op.drop_column("notes", "source")
        """,
}


def test_flask_db_upgrade_adds_the_column_and_the_running_app_maps_it(
    db_url: str, tmp_path: Path
) -> None:
    import flask_migrate

    migrations = tmp_path / "migrations"
    write_flask_app(tmp_path)
    env = {
        **os.environ,
        "NOTES_DB_URL": db_url,
        "NOTES_MIGRATIONS": str(migrations),
        "PYTHONPATH": str(tmp_path),
    }

    def flask(*args: str) -> None:
        command = [sys.executable, "-m", "flask", "--app", "notesapp:create_app", *args]
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr

    da.old_schema(db_url)
    flask("db", "init")
    for name, text in REVISIONS.items():
        (migrations / "versions" / name).write_text(textwrap.dedent(text))
    flask("db", "stamp", "0001")

    def setup_migrate(app: Flask) -> None:
        flask_migrate.Migrate(app, fa.models_of(app).db, directory=str(migrations))

    app = da.build_app(
        db_url,
        tmp_path,
        {"SCHEMAGUARD_HEALTH_CACHE_SECONDS": PERIOD, "SCHEMAGUARD_MODE": "heal"},
        setup=setup_migrate,
    )
    report = app.extensions["schemaguard"].last_report
    assert report.by_kind(DriftKind.PENDING_MIGRATIONS)  # so the guard healed nothing...
    assert refresh.degraded_columns() == da.MISSING  # ...and the app serves, degraded
    client = app.test_client()
    assert client.get("/notes/1").json["source"] is None

    flask("db", "upgrade")  # the real thing, in another process
    took = wait_until(lambda: client.get("/notes/1").json["source"] == "migrated", PERIOD + 5)
    assert took < PERIOD + 3
    assert "notes.source" not in refresh.degraded_columns()


# -- re-checks cost nothing while nothing is degraded ------------------------------------------


def count_checks(app: Flask, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the runner reads fingerprints or checks the schema (real calls, counted)."""
    runner = app.extensions["schemaguard"].runner
    calls = {"fingerprints": 0, "check": 0}
    fingerprints, check = runner.fingerprints, runner.check_with_fingerprints

    def counted_fingerprints() -> Any:
        calls["fingerprints"] += 1
        return fingerprints()

    def counted_check(**kw: Any) -> Any:
        calls["check"] += 1
        return check(**kw)

    monkeypatch.setattr(runner, "fingerprints", counted_fingerprints)
    monkeypatch.setattr(runner, "check_with_fingerprints", counted_check)
    return calls


def probe_done(app: Flask) -> bool:
    probe = app.extensions["schemaguard"].health_probe
    return probe is None or probe.done.is_set()


@fa.SQLITE_ONLY
def test_a_degraded_model_is_rechecked_at_most_once_per_period(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build(db_url, tmp_path)
    calls = count_checks(app, monkeypatch)
    client = app.test_client()

    def requests() -> None:
        for _ in range(20):
            assert client.get("/notes").status_code == 200
            assert client.get("/notes/1").status_code == 200
        wait_until(lambda: probe_done(app), 5)

    requests()  # within a period of the startup check: no re-check
    assert calls == {"fingerprints": 0, "check": 0}
    time.sleep(PERIOD)
    requests()
    assert calls == {"fingerprints": 0, "check": 1}  # the first re-check: a full one
    time.sleep(PERIOD)
    requests()
    assert calls == {"fingerprints": 1, "check": 1}  # then one fingerprint query per period


@fa.SQLITE_ONLY
def test_nothing_degraded_means_no_recheck(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    da.old_schema(db_url)
    fa.execute(db_url, *add_all_columns("sqlite"))
    app = da.build_app(db_url, tmp_path, {"SCHEMAGUARD_HEALTH_CACHE_SECONDS": 0})
    assert refresh.degraded_columns() == []
    calls = count_checks(app, monkeypatch)
    client = app.test_client()
    for _ in range(10):
        assert client.get("/notes").status_code == 200
        assert client.post("/authors/1/notes", json={"id": 10 + _, "body": "x"}).status_code == 201
    assert calls == {"fingerprints": 0, "check": 0}
    assert app.extensions["schemaguard"].health_probe is None


# -- a heal that fails or is not allowed still degrades -----------------------------------------


@pytest.fixture
def dml_only_url(db_kind: str, limited_user: Callable[[], str]) -> Iterator[Callable[[], str]]:
    """Call it once the tables exist: a URL on which the guard cannot heal (PostgreSQL,
    MariaDB: a user who may only read and write rows, so not create the audit table or alter
    a table). SQLite has no users: an audit table it cannot create no longer stops a heal
    (the trail is switched off), and nothing else refuses DDL while rows can be written."""
    if db_kind == "sqlite":
        pytest.skip("SQLite has no user that may write rows but not alter tables")
    try:
        yield limited_user
    finally:
        fa.cleanup()  # the app's connections, before the user is dropped


def test_a_heal_that_fails_still_degrades(
    db_url: str,
    tmp_path: Path,
    dml_only_url: Callable[[], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    da.old_schema(db_url)
    url = dml_only_url()
    with caplog.at_level(logging.INFO, logger="flask_schemaguard"):
        app = da.build_app(url, tmp_path, {"SCHEMAGUARD_MODE": "heal"})
    # the audit trail is off (said once), then each ALTER TABLE is refused
    assert "cannot create the guard's table 'schemaguard_events'" in caplog.text
    assert fa.column_names(db_url, "notes") == {"id", "body"}  # nothing healed
    assert refresh.degraded_columns() == da.MISSING  # but the app serves
    client = app.test_client()
    assert client.get("/notes").json[0]["source"] is None
    assert client.post("/notes", json={"id": 2, "body": "b"}).status_code == 201
    assert client.patch("/notes/2", json={"body": "c"}).status_code == 200
    assert client.get("/authors/1").json == {"name": "ann", "notes": []}


def test_a_heal_that_is_not_allowed_still_degrades(db_url: str, tmp_path: Path) -> None:
    da.old_schema(db_url)
    config = {"SCHEMAGUARD_MODE": "heal", "SCHEMAGUARD_ALLOWED_OPERATIONS": ["create_table"]}
    app = da.build_app(db_url, tmp_path, config)
    assert refresh.degraded_columns() == da.MISSING
    assert app.test_client().post("/notes", json={"id": 2, "body": "b"}).status_code == 201

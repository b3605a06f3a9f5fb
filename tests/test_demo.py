"""The example app and ``make demo``: what a new user sees first.

- ``python -m example_app.demo`` runs end to end on SQLite (real ``flask`` subprocesses and a
  real server), exits 0, tells its story and leaves nothing behind.
- The example app reproduces the seed incidents on SQLite, PostgreSQL and MariaDB: its old
  database drifts, heal mode fixes it at startup, check mode answers with problem JSON.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from example_app import browser, create_app
from example_app.models import Run, StepExecutionLog, db
from example_app.old_schema import create_old_database
from flask_schemaguard import DriftKind

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = "http://localhost:3000"
MakeApp = Callable[..., Flask]


def test_demo_runs_end_to_end() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "example_app.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    expected_in_order = [
        "1. Create the database as it was before",
        "$ flask --app example_app schemaguard status",
        "missing_table   step_execution_logs",
        "missing_column  crucible_runs        chat_session_id",
        "drift detected",
        "(exit status 1)",
        "$ flask --app example_app run",
        "applied create_table step_execution_logs",
        "applied add_column crucible_runs.chat_session_id",
        "applied create_index step_execution_logs.idx_step_logs_session_status_execution",
        "> POST /api/sessions/1/run-next-step",
        "HTTP 200",
        '"execution_order": 1',
        "> GET /projects/1/runs/summary",
        "HTTP 200",
        '"total_runs": 5',
        "in sync",
        "(exit status 0)",
        "$ flask --app example_app schemaguard history",
        "create_table  step_execution_logs",
        "$ FLASK_SCHEMAGUARD_MODE=check flask --app example_app run",
        "drift remains",
        "HTTP 503",
        "Content-Type: application/problem+json",
        f"Access-Control-Allow-Origin: {FRONTEND}",
        '"code": "SCHEMA_DRIFT"',
        '"drift": "missing_table"',
        '"healed": false',
        '"chat_session_id": null',
        "> GET /healthz/schema",
        "HTTP 503",
        "Content-Type: application/health+json",
        '"status": "fail"',
        "A developer opens the failing page in a browser, the app in debug mode.",
        "$ FLASK_SCHEMAGUARD_MODE=check flask --app example_app run --debug",
        "HTTP 503",
        "Content-Type: text/html; charset=utf-8",
        "Database schema out of date",
        "missing_table  step_execution_logs  –  error  yes",
        "missing_column  crucible_runs  chat_session_id  error  yes",
        "The plan: 12 operations",
        "[ Heal now ]",
        "drift-page.png" if browser.missing() is None else "no screenshot: ",
        "> POST /_schemaguard/heal",
        "HTTP 303",
        "Location: /sessions/1",
        "HTTP 200: Should we adopt flask-schemaguard?",
        "Schema health: pass",
        "12 applied, 0 failed.",
        "Content-Type: application/health+json",
        "Done.",
    ]
    position = 0
    for line in expected_in_order:
        found = out.find(line, position)
        assert found >= 0, f"{line!r} missing after position {position} in:\n{out}"
        position = found + len(line)
    steps = re.findall(r"^(\d+)\. ", out, flags=re.M)
    assert steps == [str(n) for n in range(1, len(steps) + 1)] and len(steps) >= 10
    # the temporary databases are gone; only the screenshots are left, and said where
    workdirs = {Path(d) for d in re.findall(r"sqlite:///(/\S*schemaguard-demo-[^/\s]+)/", out)}
    assert len(workdirs) == 1
    [workdir] = workdirs
    if browser.missing() is None:
        shots = sorted(workdir.iterdir())
        try:
            assert [p.name for p in shots] == ["drift-page.png", "health-page.png"]
            assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in shots)
            assert f"Screenshots of the pages: {shots[0]}, {shots[1]}" in out
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        assert not workdir.exists()


def test_first_steps_example() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "example_app.first_steps"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        "in sync: False",
        "  error: Table 'step_execution_logs' does not exist in the database.",
        "  error: Column 'crucible_runs.chat_session_id' does not exist in the database.",
        "  warning: Index 'ix_crucible_runs_chat_session_id' on 'crucible_runs' "
        "(chat_session_id) does not exist in the database.",
        "plan: 12 operations, the first one:",
        "  CREATE TABLE step_execution_logs (",
        "healed: 12 applied, 0 failed",
        "in sync: True",
    ]


# -- the example app on every database ------------------------------------------------------
def _dispose(app: Flask) -> None:
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def old_db(db_url: str) -> str:
    create_old_database(db_url)
    return db_url


@pytest.fixture
def make_app(old_db: str) -> Iterator[MakeApp]:
    apps: list[Flask] = []

    def make(**config: object) -> Flask:
        app = create_app({"SQLALCHEMY_DATABASE_URI": old_db, "TESTING": True, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        _dispose(app)


def test_old_database_has_the_seed_drift(make_app: MakeApp) -> None:
    app = make_app(SCHEMAGUARD_RUN_ON="manual")
    report = app.extensions["schemaguard"].guard.check(app=app)
    found = {(i.kind, i.table, i.name) for i in report.items}
    assert (DriftKind.MISSING_TABLE, "step_execution_logs", None) in found
    assert (DriftKind.MISSING_COLUMN, "crucible_runs", "chat_session_id") in found
    assert not report.in_sync
    tables = {i.table for i in report.items}
    assert tables == {"step_execution_logs", "crucible_runs"}


def test_heal_mode_fixes_both_incidents_at_startup(make_app: MakeApp) -> None:
    app = make_app()
    guard = app.extensions["schemaguard"].guard
    assert guard.check(app=app).in_sync
    client = app.test_client()
    for order in (1, 2, 3, 4, 5):
        response = client.post("/api/sessions/1/run-next-step", headers={"Origin": FRONTEND})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
        assert response.json["log"]["execution_order"] == order
    assert response.json["round"] == 2
    summary = client.get("/projects/1/runs/summary")
    assert summary.status_code == 200
    assert summary.json["total_runs"] == 5
    assert summary.json["by_status"] == {"completed": 3, "failed": 1, "running": 1}
    with app.app_context():
        assert db.session.query(StepExecutionLog).count() == 5
        run = db.session.get(Run, 1)
        run.chat_session_id = "chat-1"
        db.session.commit()
        assert Run.query.filter_by(chat_session_id="chat-1").count() == 1
        db.session.remove()


def test_check_mode_answers_with_problem_json(make_app: MakeApp) -> None:
    app = make_app(SCHEMAGUARD_MODE="check")
    client = app.test_client()
    response = client.post("/api/sessions/1/run-next-step", headers={"Origin": FRONTEND})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert response.json["code"] == "SCHEMA_DRIFT"
    assert response.json["drift"] == "missing_table"
    assert response.json["table"] == "step_execution_logs"
    assert response.json["healed"] is False
    # the session was rolled back: the next request works (seed 002's poisoned session)
    summary = client.get("/projects/1/runs/summary")
    assert summary.status_code == 200
    assert [r["chat_session_id"] for r in summary.json["latest"]] == [None, None, None]
    health = client.get("/healthz/schema")
    assert health.status_code == 503
    assert health.json["status"] == "fail"
    # nothing was changed, and a person's heal still fixes it
    assert not app.extensions["schemaguard"].guard.check(app=app).in_sync
    result = app.extensions["schemaguard"].guard.heal(app=app)
    assert not result.failed and result.after.in_sync
    response = client.post("/api/sessions/1/run-next-step")
    assert response.status_code == 200


def test_cli_status_on_the_old_database(make_app: MakeApp) -> None:
    app = make_app(SCHEMAGUARD_RUN_ON="manual")
    result = app.test_cli_runner().invoke(args=["schemaguard", "status"])
    assert result.exit_code == 1
    assert "step_execution_logs" in result.output
    assert "drift detected" in result.output

"""``flask schemaguard status | plan | heal | history`` through ``app.test_cli_runner()``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
import sqlalchemy as sa
from conftest import make_database
from flask import Flask

LOGS = "step_execution_logs"
HEADER = ["kind", "table", "name", "severity", "healable", "bind"]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Flask:
    """Check mode (nothing healed at startup); duplicate names break the unique index, which
    is tried on the existing table because create_unique_index is allowed."""
    fa.old_schema(db_url, names=("same", "same"))
    config = {
        "SCHEMAGUARD_MODE": "check",
        "SCHEMAGUARD_ALLOWED_OPERATIONS": "create_table, add_column, create_unique_index",
    }
    return fa.build_app(db_url, tmp_path, config, priority=True, unique_name=True)


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["schemaguard", *args])


def table_rows(output: str, header: list[str]) -> list[list[str]]:
    """The rows of a table printed by the CLI (header, dashes, rows)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == header)
    rows = []
    for line in lines[start + 2 :]:
        if not line or line.startswith(("- ", "in sync", "drift detected")):
            break
        rows.append(line.split())
    return rows


def test_status_plan_heal_history(app: Flask, db_url: str, db_kind: str) -> None:
    status = run(app, "status")
    assert status.exit_code == 1, status.output
    masked = sa.make_url(db_url).render_as_string(hide_password=True)
    first = status.output.splitlines()[0]
    assert first.startswith(f"database default ({db_kind}): ")
    if db_kind == "sqlite":
        assert first.endswith(str(Path(db_url[len("sqlite:///") :]).resolve()))
    else:
        assert first.split(": ", 1)[1].startswith(masked)
    assert sorted(table_rows(status.output, HEADER)) == [
        ["missing_column", "runs", "note", "error", "yes", "default"],
        ["missing_column", "runs", "priority", "error", "no", "default"],
        ["missing_index", "runs", "ix_runs_name", "warning", "yes", "default"],
        ["missing_table", LOGS, "-", "error", "yes", "default"],
    ]
    assert "NOT NULL without a server default" in status.output  # the hint
    assert status.output.rstrip().endswith("drift detected")

    as_json = run(app, "status", "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.output)
    assert report["in_sync"] is False
    assert {(i["kind"], i["table"], i["name"]) for i in report["items"]} == {
        ("missing_column", "runs", "note"),
        ("missing_column", "runs", "priority"),
        ("missing_index", "runs", "ix_runs_name"),
        ("missing_table", LOGS, None),
    }
    assert report["databases"] == [{"bind": None, "dialect": db_kind, "url": first.split(": ")[1]}]

    plan = run(app, "plan")
    assert plan.exit_code == 0
    assert plan.output.splitlines() == [
        f"create_table {LOGS} (default)",
        "add_column runs.note (default)",
        "create_unique_index runs.ix_runs_name (default)",
    ]
    plan_sql = run(app, "plan", "--sql")
    assert f"CREATE TABLE {LOGS}" in plan_sql.output
    assert "ALTER TABLE runs ADD" in plan_sql.output and "note VARCHAR(100)" in plan_sql.output
    index_sql = {
        "sqlite": "CREATE UNIQUE INDEX ix_runs_name ON runs (name);",
        "postgresql": "CREATE UNIQUE INDEX CONCURRENTLY ix_runs_name ON runs (name);",
        "mysql": "CREATE UNIQUE INDEX ix_runs_name ON runs (name) ALGORITHM=INPLACE LOCK=NONE;",
    }
    assert index_sql[db_kind] in plan_sql.output
    locks = [line.strip() for line in plan_sql.output.splitlines() if "-- lock:" in line]
    expected_locks = {
        "sqlite": ["blocks_writes"] * 3,
        "postgresql": ["brief", "brief", "none"],
        "mysql": ["brief", "brief", "brief"],
    }
    assert [line.split()[2] for line in locks] == expected_locks[db_kind]

    dry = run(app, "heal", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would apply: add_column runs.note" in dry.output
    assert "skipped: missing_column runs.priority" in dry.output
    assert dry.output.splitlines()[-1] == "3 would apply, 0 failed, 1 skipped"
    assert LOGS not in fa.table_names(db_url) and fa.audit_rows(db_url) == []

    heal = run(app, "heal")
    assert heal.exit_code == 1, heal.output  # an operation failed, error-level drift remains
    lines = heal.output.splitlines()
    assert f"applied: create_table {LOGS}" in lines and "applied: add_column runs.note" in lines
    assert any(line.startswith("failed: create_unique_index runs.ix_runs_name: ") for line in lines)
    assert lines[-1] == "2 applied, 1 failed, 1 skipped"
    assert LOGS in fa.table_names(db_url)

    history = run(app, "history")
    assert history.exit_code == 0
    header = ["time", "(UTC)", "bind", "operation", "target", "outcome", "host:pid", "ms", "error"]
    rows = table_rows(history.output, header)
    assert [row[3:6] for row in rows] == [  # newest first
        ["create_unique_index", "runs.ix_runs_name", "failed"],
        ["add_column", "runs.note", "applied"],
        ["create_table", LOGS, "applied"],
    ]
    as_json_rows = json.loads(run(app, "history", "--json", "--limit", "1").output)
    assert [r["operation"] for r in as_json_rows] == ["create_unique_index"]

    after = run(app, "status")
    assert after.exit_code == 1
    assert sorted(r[2] for r in table_rows(after.output, HEADER)) == ["ix_runs_name", "priority"]


@fa.SQLITE_ONLY
def test_status_exit_0_in_sync(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path)  # heals at startup
    status = run(app, "status")
    assert status.exit_code == 0, status.output
    assert status.output.splitlines()[-1] == "in sync"
    assert run(app, "plan").output.strip() == "nothing to do"
    heal = run(app, "heal")
    assert heal.exit_code == 0 and heal.output.splitlines()[-1] == "0 applied, 0 failed, 0 skipped"


def test_status_masks_the_password(tmp_path: Path) -> None:
    """On PostgreSQL (the test server trusts local connections, whatever the password)."""
    database = make_database("postgresql", tmp_path)
    db_url = next(database)
    try:
        url = sa.make_url(db_url).set(password="s3cret").render_as_string(hide_password=False)
        fa.old_schema(db_url)
        app = fa.build_app(url, tmp_path)
        for args in (["status"], ["status", "--json"]):
            result = run(app, *args)
            assert result.exit_code == 0, result.output
            assert "s3cret" not in result.output
            assert "postgres:***@127.0.0.1" in result.output
    finally:
        fa.cleanup()
        next(database, None)


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("sqlite", "sqlite:///{tmp}/no/such/dir/app.db"),
        ("postgresql", "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test"),
        ("mysql", "mysql+pymysql://root:s3cret@127.0.0.1:1/test"),
    ],
    ids=["sqlite", "postgresql", "mysql"],
)
def test_status_exit_2_when_unreachable(tmp_path: Path, kind: str, url: str) -> None:
    app = fa.build_app(url.format(tmp=tmp_path), tmp_path, {"SCHEMAGUARD_RUN_ON": "manual"})
    for args in (["status"], ["status", "--json"], ["heal"]):
        result = run(app, *args)
        assert result.exit_code == 2, result.output
        assert "s3cret" not in result.output
    status = run(app, "status").output
    assert "UNREACHABLE" in status
    assert status.rstrip().endswith("database unreachable")
    if kind == "sqlite":
        assert f"sqlite:///{tmp_path}/no/such/dir/app.db" in run(app, "status").output
    else:
        assert ":***@127.0.0.1:1/test" in run(app, "status").output


def test_status_bind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    events_url = f"sqlite:///{tmp_path / 'events.db'}"
    fa.old_schema(url)
    app = fa.build_app(url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, events_url=events_url)
    both = json.loads(run(app, "status", "--json").output)
    assert {d["bind"] for d in both["databases"]} == {None, "events"}
    events = run(app, "status", "--bind", "events")
    assert events.exit_code == 1
    assert events.output.splitlines()[0] == f"database events (sqlite): {events_url}"
    assert table_rows(events.output, HEADER) == [
        ["missing_table", "events", "-", "error", "yes", "events"]
    ]
    default = json.loads(run(app, "status", "--json", "--bind", "default").output)
    assert {i["table"] for i in default["items"]} == {"runs", LOGS}
    unknown = run(app, "status", "--bind", "nope")
    assert unknown.exit_code == 2
    assert "no bind named 'nope'; known binds: default, events" in unknown.stderr


def test_bad_config_under_flask_schemaguard_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flask schemaguard status` reports a bad config (exit 2) instead of a traceback."""
    monkeypatch.setattr(sys, "argv", ["/venv/bin/flask", "schemaguard", "status"])
    app = fa.build_app(
        f"sqlite:///{tmp_path / 'app.db'}", tmp_path, {"SCHEMAGUARD_LOCK_TIMEOUT": "soon"}
    )
    for args in (["status"], ["plan"], ["heal"], ["history"]):
        result = run(app, *args)
        assert result.exit_code == 2
        assert "invalid configuration: SCHEMAGUARD_LOCK_TIMEOUT='soon'" in result.stderr


def test_history_without_rows_or_audit_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    fa.old_schema(url)
    app = fa.build_app(url, tmp_path, {"SCHEMAGUARD_MODE": "check"})
    assert run(app, "history").output.strip() == "no operations recorded"
    off = fa.build_app(url, tmp_path, {"SCHEMAGUARD_AUDIT_TABLE": None}, name="noaudit")
    result = run(off, "history")
    assert result.exit_code == 2 and "SCHEMAGUARD_AUDIT_TABLE is None" in result.stderr

"""The health endpoint: application/health+json, pass/warn/fail, details, cache, 2 s bound."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import health

URL = "/healthz/schema"
HEALTH = "application/health+json"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


@pytest.fixture
def app_config() -> dict[str, Any]:
    # The app's unique index on the existing table is healed only with create_unique_index.
    ops = "create_table, add_column, create_index, create_unique_index"
    return {"SCHEMAGUARD_ALLOWED_OPERATIONS": ops}


@pytest.fixture
def app(db_url: str, tmp_path: Path, app_config: dict[str, Any]) -> Flask:
    fa.old_schema(db_url)
    return fa.build_app(db_url, tmp_path, app_config, unique_name=True)


def components(response: Any) -> list[dict[str, Any]]:
    return response.json["checks"]["schema:drift"]  # type: ignore[no-any-return]


def test_pass(app: Flask, client: Any, db_kind: str) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    assert response.mimetype == HEALTH
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["status"] == "pass"
    assert "details" not in response.json
    [component] = components(response)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", component.pop("time"))
    assert component == {
        "componentId": "default",
        "componentType": db_kind,
        "status": "pass",
        "observedValue": 0,
        "observedUnit": "drift items",
    }


@pytest.mark.parametrize(
    "app_config",
    [{"SCHEMAGUARD_ALLOWED_OPERATIONS": ["create_table", "add_column"]}],
    ids=["no-indexes"],
)
@fa.SQLITE_ONLY
def test_warn_for_warning_level_drift(app: Flask, client: Any) -> None:
    app.debug = True
    response = client.get(URL)
    assert response.status_code == 200 and response.mimetype == HEALTH
    assert response.json["status"] == "warn"
    assert components(response)[0]["status"] == "warn"
    assert components(response)[0]["observedValue"] == 1
    assert [(d["kind"], d["name"]) for d in response.json["details"]] == [
        ("missing_index", "ix_runs_name")
    ]


@pytest.mark.parametrize("app_config", [{"SCHEMAGUARD_MODE": "check"}], ids=["check"])
def test_fail_for_error_level_drift(app: Flask, client: Any) -> None:
    response = client.get(URL)
    assert response.status_code == 503 and response.mimetype == HEALTH
    assert response.json["status"] == "fail"
    assert components(response)[0]["status"] == "fail"
    assert components(response)[0]["observedValue"] == 3  # table, column, index
    assert "details" not in response.json


def test_details_only_in_debug_or_with_the_token(sqlite_app_with_token: Flask) -> None:
    client = sqlite_app_with_token.test_client()
    assert "details" not in client.get(URL).json
    for header in ("Bearer wrong", "Basic s3cret-t0ken", "s3cret-t0ken", "Bearer"):
        assert "details" not in client.get(URL, headers={"Authorization": header}).json
    details = client.get(URL, headers={"Authorization": "Bearer s3cret-t0ken"}).json["details"]
    assert {d["kind"] for d in details} == {"missing_table", "missing_column", "missing_index"}
    assert set(details[0]) == {
        "kind",
        "bind",
        "schema",
        "table",
        "name",
        "severity",
        "healable",
        "detail",
        "hint",
    }
    sqlite_app_with_token.debug = True
    assert "details" in client.get(URL).json


@pytest.fixture
def sqlite_app_with_token(tmp_path: Path) -> Flask:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    fa.old_schema(url)
    return fa.build_app(
        url,
        tmp_path,
        {"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_HEALTH_TOKEN": "s3cret-t0ken"},
        unique_name=True,
    )


def test_custom_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = fa.build_app(url, tmp_path, {"SCHEMAGUARD_HEALTH_URL": "/status/db"})
    client = app.test_client()
    assert client.get("/status/db").json["status"] == "pass"
    assert client.get(URL).status_code == 404


# -- cache ----------------------------------------------------------------------------------


class QueryCounter:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def take(self) -> list[str]:
        out, self.statements = self.statements, []
        return out

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._count)


UNIQUE_OK = {"SCHEMAGUARD_ALLOWED_OPERATIONS": "create_table, add_column, create_unique_index"}


@pytest.mark.parametrize(
    "app_config", [{"SCHEMAGUARD_HEALTH_CACHE_SECONDS": 60, **UNIQUE_OK}], ids=["cache-60s"]
)
def test_cache_reuses_the_report_while_the_fingerprint_is_unchanged(
    app: Flask, client: Any, db_url: str
) -> None:
    """Within the cache window no query at all; after it, one fingerprint query per period,
    and a schema changed behind the app's back is seen at the first probe after the window."""
    state = app.extensions["schemaguard"]
    counter = QueryCounter(fa.models_of(app).db.engine)

    def expire_cache() -> None:  # as if SCHEMAGUARD_HEALTH_CACHE_SECONDS had passed
        state.health_cache.checked_at -= state.config.health_cache_seconds

    try:
        state.runner.fingerprints()
        fingerprint = counter.take()  # one catalog query (MySQL: plus SELECT DATABASE())
        assert 1 <= len(fingerprint) <= 2
        first = client.get(URL)
        assert first.json["status"] == "pass"
        # the fingerprint with the recorded state (one statement where the database allows)
        # or a reflection
        assert len(counter.take()) >= 1
        for _ in range(3):
            again = client.get(URL)
            assert again.json == first.json
            assert counter.take() == []  # inside the window: the cached report, no query
        expire_cache()
        assert client.get(URL).json["status"] == "pass"
        assert counter.take() == fingerprint  # the fingerprint only, once for the period
        assert client.get(URL).json["status"] == "pass"
        assert counter.take() == []
        # the schema changes behind the app's back: the first probe after the window sees it
        fa.models_of(app).db.session.rollback()
        fa.execute(db_url, "DROP TABLE step_execution_logs")
        expire_cache()
        changed = client.get(URL)
        assert changed.status_code == 503 and changed.json["status"] == "fail"
        assert len(counter.take()) > len(fingerprint)  # the fingerprint, then a reflection
    finally:
        counter.close()


@pytest.mark.parametrize(
    "app_config", [{"SCHEMAGUARD_HEALTH_CACHE_SECONDS": 0, **UNIQUE_OK}], ids=["no-cache"]
)
@fa.SQLITE_ONLY
def test_no_cache_checks_every_time(app: Flask, client: Any, db_url: str) -> None:
    """Every poll runs the check; it sees a schema change made behind the app's back."""
    counter = QueryCounter(fa.models_of(app).db.engine)
    try:
        for _ in range(2):
            assert client.get(URL).json["status"] == "pass"
            assert len(counter.take()) >= 1
        fa.models_of(app).db.session.rollback()
        fa.execute(db_url, "DROP TABLE step_execution_logs")
        assert client.get(URL).json["status"] == "fail"
    finally:
        counter.close()


# -- a database that does not answer ----------------------------------------------------------


def lock_state_table(db_url: str) -> tuple[sa.Engine, sa.Connection]:
    """Hold a lock that blocks readers of the guard's state table (a real, hung database)."""
    engine = sa.create_engine(db_url)
    conn = engine.connect()
    name = engine.dialect.name
    if name == "sqlite":
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
        conn.exec_driver_sql("UPDATE schemaguard_state SET checked_at = checked_at")
    elif name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE schemaguard_state IN ACCESS EXCLUSIVE MODE")
    else:
        conn.exec_driver_sql("LOCK TABLES schemaguard_state WRITE")
    return engine, conn


def release(engine: sa.Engine, conn: sa.Connection) -> None:
    if engine.dialect.name == "mysql":
        conn.exec_driver_sql("UNLOCK TABLES")
    conn.rollback()
    conn.close()
    engine.dispose()


def probe_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "schemaguard-health")


def test_a_hung_database_answers_fail_within_2_seconds(
    app: Flask, client: Any, db_url: str
) -> None:
    fa.models_of(app).db.session.rollback()
    app.debug = True
    engine, conn = lock_state_table(db_url)
    answers: list[tuple[float, Any]] = []

    def poll() -> None:
        started = time.monotonic()
        response = app.test_client().get(URL)
        answers.append((time.monotonic() - started, response))

    try:
        polls = [threading.Thread(target=poll) for _ in range(2)]
        for t in polls:
            t.start()
        time.sleep(0.5)
        assert probe_threads() == 1  # concurrent polls wait for one probe: none piles up
        for t in polls:
            t.join(10)
        assert len(answers) == 2
        for elapsed, response in answers:
            assert response.status_code == 503
            assert response.json["status"] == "fail"
            assert components(response)[0]["status"] == "fail"
            assert response.json["details"][0]["kind"] == "database_unreachable"
            assert "did not answer within 2 s" in response.json["details"][0]["detail"]
            assert health.PROBE_TIMEOUT - 0.1 <= elapsed < health.PROBE_TIMEOUT + 1.0
    finally:
        release(engine, conn)
    probe = app.extensions["schemaguard"].health_probe
    assert probe.done.wait(10)
    assert client.get(URL).json["status"] == "pass"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres:secret@127.0.0.1:1/test",
        "mysql+pymysql://root@127.0.0.1:1/test",
    ],
    ids=["postgresql", "mysql"],
)
def test_an_unreachable_server_answers_fail_at_once(tmp_path: Path, url: str) -> None:
    app = fa.build_app(url, tmp_path, {"SCHEMAGUARD_RUN_ON": "manual"})
    app.debug = True
    started = time.monotonic()
    response = app.test_client().get(URL)
    assert time.monotonic() - started < health.PROBE_TIMEOUT
    assert response.status_code == 503
    assert response.json["status"] == "fail"
    assert response.json["details"][0]["kind"] == "database_unreachable"
    assert "secret" not in response.get_data(as_text=True)

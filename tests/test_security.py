"""Security on real databases: what the guard shows, and to whom.

- The health endpoint with a token shows no drift details without it (or with a wrong one, or
  the wrong scheme), and compares the token in constant time (``hmac.compare_digest``).
- Schema error responses never contain SQL, bound parameters or the database URL outside
  debug; other database errors reach Flask's plain 500 page.
- A database URL with a password: the password never shows in CLI output, logs, the health
  endpoint, reports or audit rows (PostgreSQL: a role created with a password, connected over
  127.0.0.1; under trust authentication the server ignores it, but the URL still carries it.
  MySQL: a user identified by the password, so it is checked for real).
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import _reliability as rel
import pytest
import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import SchemaGuard, SchemaGuardError

PASSWORD = "Pa55-w0rd-" + uuid.uuid4().hex[:8]
TOKEN = "health-token-" + uuid.uuid4().hex[:8]
PARAMETER = "parameter-value-" + uuid.uuid4().hex[:6]


@pytest.fixture
def password_url(db_kind: str, db_url: str) -> Iterator[str]:
    """The test database, reached as a new user whose password is ``PASSWORD``."""
    if db_kind == "sqlite":
        pytest.skip("SQLite has no passwords")
    name = "sg_pw_" + uuid.uuid4().hex[:8]
    url = sa.make_url(db_url)
    admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
                conn.exec_driver_sql(f"GRANT ALL ON DATABASE {url.database} TO {name}")
                conn.exec_driver_sql(f"GRANT ALL ON SCHEMA public TO {name}")
            else:
                conn.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{PASSWORD}'")
                conn.exec_driver_sql(f"GRANT ALL ON `{url.database}`.* TO '{name}'@'%%'")
        yield url.set(username=name, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f"DROP OWNED BY {name}")
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {name}")
            else:
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")
        admin.dispose()


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


# -- health ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer "],
)
def test_health_without_the_token_shows_no_details(db_url: str, authorization: str | None) -> None:
    rel.make_drifted(db_url)
    app, _guard, own = _app(db_url, SCHEMAGUARD_MODE="check", SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    try:
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = app.test_client().get("/healthz/schema", headers=headers)
        body = response.get_json(force=True)
        assert response.status_code == 503 and body["status"] == "fail"
        assert "details" not in body
        text = response.get_data(as_text=True)
        assert rel.SEED_TABLE not in text and "archived_at" not in text
        assert TOKEN not in text
    finally:
        own.dispose()


def test_health_with_the_token_shows_details_compared_in_constant_time(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel.make_drifted(db_url)
    app, _guard, own = _app(db_url, SCHEMAGUARD_MODE="check", SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    try:
        client = app.test_client()
        response = client.get("/healthz/schema", headers={"Authorization": f"Bearer {TOKEN}"})
        body = response.get_json(force=True)
        kinds = {d["kind"] for d in body["details"]}
        assert {"missing_table", "missing_column", "missing_index"} <= kinds
        client.get("/healthz/schema", headers={"Authorization": "Bearer nope"})
    finally:
        own.dispose()
    # both the right and a wrong token went through the constant-time comparison
    assert len(calls) >= 2 and all(TOKEN.encode() in pair for pair in calls)


# -- error responses -------------------------------------------------------------------------
def _error_app(url: str, debug: bool) -> tuple[Flask, sa.Engine]:
    app, _guard, engine = _app(url, SCHEMAGUARD_MODE="check", SCHEMAGUARD_RUN_ON="manual")
    app.debug = debug

    @app.get("/logs")
    def logs() -> Any:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id, status FROM step_execution_logs WHERE status = :s"),
                {"s": PARAMETER},
            ).all()
        return {"n": len(rows)}

    @app.get("/broken")
    def broken() -> Any:
        with engine.connect() as conn:  # not a schema error: a duplicate key
            conn.execute(
                sa.text("INSERT INTO sessions (id, name, created_at) VALUES (1, :n, '2025-01-01')"),
                {"n": PARAMETER},
            )
        return {}

    return app, engine


def test_error_responses_hide_sql_parameters_and_url(db_kind: str, db_url: str) -> None:
    rel.make_drifted(db_url)
    app, engine = _error_app(db_url, debug=False)
    url = sa.make_url(db_url)
    try:
        client = app.test_client()
        response = client.get("/logs")
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        body = response.get_json(force=True)
        assert body["drift"] == "missing_table" and body["table"] == rel.SEED_TABLE
        assert "sql" not in body
        broken = client.get("/broken")
        assert broken.status_code == 500
        for r in (response, broken):
            text = r.get_data(as_text=True) + json.dumps(dict(r.headers))
            for secret in ("SELECT", "INSERT", PARAMETER, str(url.database), "127.0.0.1"):
                assert secret not in text, (secret, text)
    finally:
        engine.dispose()


def test_error_responses_show_sql_in_debug_only(db_url: str) -> None:
    rel.make_drifted(db_url)
    app, engine = _error_app(db_url, debug=True)
    try:
        body = app.test_client().get("/logs").get_json(force=True)
        assert "step_execution_logs" in body["sql"]
    finally:
        engine.dispose()


# -- passwords -------------------------------------------------------------------------------
def _all_text(value: Any) -> str:
    return json.dumps(value, default=str)


def test_password_never_shown(password_url: str, caplog: pytest.LogCaptureFixture) -> None:
    rel.make_drifted(password_url)  # the user owns the tables it heals
    with caplog.at_level(logging.DEBUG):
        app, guard, engine = _app(
            password_url, SCHEMAGUARD_HEALTH_TOKEN=TOKEN, SCHEMAGUARD_RUN_ON="manual"
        )
        try:
            seen: list[str] = []
            runner = app.test_cli_runner()
            for args in (
                ["status"],
                ["status", "--json"],
                ["plan", "--sql"],
                ["heal", "--dry-run"],
                ["heal"],
                ["status", "--json"],
                ["history"],
                ["history", "--json"],
            ):
                result = runner.invoke(args=["schemaguard", *args])
                seen.append(result.output)
                assert result.exit_code in (0, 1), (args, result.output)
            status = json.loads(seen[-3])
            assert status["in_sync"]
            assert "***" in status["databases"][0]["url"]
            app.debug = True  # details without the token, too
            health = app.test_client().get(
                "/healthz/schema", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            seen.append(health.get_data(as_text=True))
            seen.append(_all_text(guard.check(app=app).to_dict()))
            seen.append(_all_text(guard.heal(app=app).to_dict()))
            seen.append(_all_text(rel.audit_rows(password_url)))
        finally:
            engine.dispose()
    assert len(rel.audit_rows(password_url)) == len(rel.EXPECTED_OPERATIONS)
    seen.append(caplog.text)
    seen.extend(str(r.args) for r in caplog.records)
    for text in seen:
        assert PASSWORD not in text


@pytest.mark.parametrize("mode", ["heal", "check", "strict"])
def test_password_never_shown_when_unreachable(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql+psycopg://someone:{PASSWORD}@127.0.0.1:1/app"
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        if mode == "strict":
            with pytest.raises(SchemaGuardError) as info:
                _app(url, SCHEMAGUARD_MODE=mode)
            seen.append(str(info.value))
            assert "***" in str(info.value)
        else:
            app, guard, engine = _app(url, SCHEMAGUARD_MODE=mode, SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
            try:
                report = app.extensions["schemaguard"].last_report
                seen.append(_all_text(report.to_dict()))
                result = app.test_cli_runner().invoke(args=["schemaguard", "status"])
                assert result.exit_code == 2
                assert "***" in result.output
                seen.append(result.output)
                health = app.test_client().get(
                    "/healthz/schema", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                seen.append(health.get_data(as_text=True))
            finally:
                engine.dispose()
    seen.append(caplog.text)
    for text in seen:
        assert PASSWORD not in text

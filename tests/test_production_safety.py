"""A heal on a live app: no request queues behind it, no request waits on itself, the guard's
own tables and in-memory databases survive, a lost lock race is looked at again, secrets
stay masked, and a database user without CREATE still gets what it may have."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _reliability as rel
import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import StaticPool

from flask_schemaguard import SchemaGuard, SchemaGuardError
from flask_schemaguard.state import get_state

LOGS = "step_execution_logs"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


# -- heal on error: nothing queues ---------------------------------------------------------------
def test_a_request_that_finds_a_heal_running_answers_at_once(
    db_kind: str, db_url: str, tmp_path: Path
) -> None:
    fa.old_schema(db_url)
    config = {"SCHEMAGUARD_RUN_ON": "manual", "SCHEMAGUARD_LOCK_TIMEOUT": 20}
    app = fa.build_app(db_url, tmp_path, config)
    # another process heals this database: the first request's heal waits for its lock
    holder_engine, holder = _hold_heal_lock(db_kind, db_url)
    first: dict[str, Any] = {}

    def hit() -> None:
        response = app.test_client().get("/logs")
        first.update(status=response.status_code, body=response.get_json(force=True))

    thread = threading.Thread(target=hit)
    thread.start()
    time.sleep(0.3)  # the first request's heal is running (held in its first operation)
    started = time.monotonic()
    busy = app.test_client().get("/logs")
    elapsed = time.monotonic() - started
    session = holder.info["sg_session"]
    session.rollback()
    session.release()
    holder.close()
    holder_engine.dispose()
    thread.join(30)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert busy.get_json(force=True)["healed"] is False
    assert elapsed < 1.0, elapsed  # answered at once, not after the heal
    assert first["status"] == 503
    deadline = time.monotonic() + 20  # the heal finishes in its own thread
    while LOGS not in fa.table_names(db_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert LOGS in fa.table_names(db_url)
    assert app.test_client().get("/logs").status_code == 200


# -- guard.heal() from a request whose session holds the lock ----------------------------------
def test_heal_from_a_request_after_reads_names_its_own_transaction(
    db_kind: str, db_url: str, tmp_path: Path
) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_RUN_ON": "manual"}, priority=False)
    models = fa.models_of(app)
    guard = get_state(app).guard
    with app.test_request_context("/"):
        models.db.session.execute(sa.text("SELECT id, name FROM runs")).all()  # a read
        if db_kind == "postgresql":  # the read holds a lock on runs, which the heal alters
            with pytest.raises(SchemaGuardError) as info:
                guard.heal()
            message = str(info.value)
            assert "'runs'" in message and "db.session.commit()" in message
        models.db.session.rollback()
        started = time.monotonic()
        result = guard.heal()  # after the rollback: no wait at all
        assert result.failed == () and time.monotonic() - started < 5


# -- the guard's own tables, in-memory SQLite --------------------------------------------------
@pytest.mark.parametrize("key", ["SCHEMAGUARD_AUDIT_TABLE", "state"])
def test_guard_table_named_as_a_model_table_is_refused(tmp_path: Path, key: str) -> None:
    md = sa.MetaData()
    name = "audit_log" if key == "SCHEMAGUARD_AUDIT_TABLE" else "schemaguard_state"
    sa.Table(name, md, sa.Column("id", sa.Integer, primary_key=True))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    app = Flask(__name__)
    if key == "SCHEMAGUARD_AUDIT_TABLE":
        app.config[key] = name
    try:
        with pytest.raises(SchemaGuardError) as info:
            SchemaGuard(app, metadata=md, engine=engine)
    finally:
        engine.dispose()
    message = str(info.value)
    assert repr(name) in message and "model table" in message
    if key == "SCHEMAGUARD_AUDIT_TABLE":
        assert key in message
    assert (
        not (tmp_path / "app.db").exists()
        or sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")).get_table_names() == []
    )


@pytest.mark.parametrize("pool", ["default", "static"])
def test_in_memory_sqlite_keeps_its_data_after_a_heal(pool: str) -> None:
    kwargs: dict[str, Any] = {}
    if pool == "static":
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = sa.create_engine("sqlite://", **kwargs)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO kept VALUES (1), (2)")
        md = sa.MetaData()
        sa.Table("kept", md, sa.Column("id", sa.Integer, primary_key=True))
        sa.Table("users", md, sa.Column("id", sa.Integer, primary_key=True))
        app = Flask(__name__)
        guard = SchemaGuard(app, metadata=md, engine=engine)  # heals at init
        assert [op.describe() for op in get_state(app).last_result.applied] == [
            "create_table users"
        ]
        assert guard.check(app=app).in_sync
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM kept").scalar() == 2
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM users").scalar() == 0
    finally:
        engine.dispose()


# -- a startup heal that lost the lock race -----------------------------------------------------
def _hold_heal_lock(db_kind: str, url: str) -> tuple[sa.Engine, sa.Connection]:
    engine = sa.create_engine(url)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    session = get_impl(conn).heal_session(conn, 5, 5)
    session.begin()
    conn.info["sg_session"] = session
    return engine, conn


def get_impl(conn: sa.Connection) -> Any:
    from flask_schemaguard.dialects import impl_for

    return impl_for(conn)


def test_startup_heal_that_lost_the_lock_race_heals_once_it_is_free(
    db_kind: str, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rel.make_drifted(db_url)
    holder_engine, holder = _hold_heal_lock(db_kind, db_url)
    engine = sa.create_engine(db_url)
    try:
        app = Flask(__name__)
        app.config.update(SCHEMAGUARD_LOCK_TIMEOUT=0.3)
        app.add_url_rule("/", "index", lambda: "ok")
        with caplog.at_level(logging.INFO, logger="flask_schemaguard"):
            SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
            state = get_state(app)
            assert state.startup_lock_lost and not state.startup_done
            assert app.test_client().get("/").status_code == 200  # serving, lock still held
            session = holder.info["sg_session"]
            session.rollback()
            session.release()
            time.sleep(1.1)  # LOCK_RETRY_INTERVAL
            caplog.clear()
            assert app.test_client().get("/").status_code == 200  # retried: heals now
        assert state.startup_done and state.last_result.after.in_sync
        assert len(state.last_result.applied) == len(rel.EXPECTED_OPERATIONS)
        assert any(
            "heal applied" in r.getMessage() and "in sync" in r.getMessage() for r in caplog.records
        )
    finally:
        holder.close()
        holder_engine.dispose()
        engine.dispose()


# -- a password in the URL's query ---------------------------------------------------------------
def test_password_in_the_url_query_is_masked_everywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-" + uuid.uuid4().hex[:6]
    url = f"postgresql+psycopg://guard@127.0.0.1:1/app?password={secret}&connect_timeout=1"
    md = sa.MetaData()
    sa.Table("things", md, sa.Column("id", sa.Integer, primary_key=True))
    engine = sa.create_engine(url)
    app = Flask(__name__)
    app.config.update(SCHEMAGUARD_HEALTH_TOKEN="t0k")
    try:
        with caplog.at_level(logging.DEBUG, logger="flask_schemaguard"):
            SchemaGuard(app, metadata=md, engine=engine)  # unreachable: logged
            plain = app.test_cli_runner().invoke(args=["schemaguard", "status"])
            as_json = app.test_cli_runner().invoke(args=["schemaguard", "status", "--json"])
            health = app.test_client().get(
                "/healthz/schema", headers={"Authorization": "Bearer t0k"}
            )
    finally:
        engine.dispose()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    body = health.get_data(as_text=True)
    for shown in (plain.output, as_json.output, logs, body):
        assert secret not in shown
    assert "password=***" in plain.output and "password=***" in logs
    assert "password=***" in json.dumps(json.loads(as_json.output))
    assert "details" in json.loads(body) and "password=***" in body


# -- least privilege ---------------------------------------------------------------------------
@pytest.fixture
def owner_without_create(db_kind: str, db_url: str) -> Iterator[Callable[[], str]]:
    """The URL of a user who owns (PostgreSQL) or may ALTER and INDEX (MariaDB) the tables
    that exist, and read and write their rows, but may not create a table."""
    if db_kind == "sqlite":
        pytest.skip("SQLite has no users")
    name = "sg_owner_" + uuid.uuid4().hex[:8]
    url = sa.make_url(db_url)
    admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")

    def make() -> str:
        with admin.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN")
                conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {url.database} TO {name}")
                conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {name}")
                conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {name}")
                for (table,) in conn.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ):
                    conn.exec_driver_sql(f"ALTER TABLE {table} OWNER TO {name}")
            else:
                conn.exec_driver_sql(f"CREATE USER '{name}'@'%%'")
                conn.exec_driver_sql(
                    "GRANT SELECT, INSERT, UPDATE, DELETE, ALTER, INDEX, REFERENCES "
                    f"ON `{url.database}`.* TO '{name}'@'%%'"
                )
        return url.set(username=name, password=None).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f"REASSIGN OWNED BY {name} TO postgres")
                conn.exec_driver_sql(f"DROP OWNED BY {name}")
                conn.exec_driver_sql(f"DROP ROLE {name}")
            else:
                conn.exec_driver_sql(f"DROP USER '{name}'@'%%'")
        admin.dispose()


def test_user_without_create_gets_its_columns_and_indexes_audit_off_said_once(
    db_kind: str,
    db_url: str,
    owner_without_create: Callable[[], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rel.make_drifted(db_url)
    url = owner_without_create()
    engine = sa.create_engine(url)
    try:
        app = Flask(__name__)
        app.config["SCHEMAGUARD_RUN_ON"] = "manual"
        guard = SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
        with caplog.at_level(logging.WARNING, logger="flask_schemaguard"):
            result = guard.heal(app=app)
            again = guard.heal(app=app)  # the reason is not logged again
        assert ("create_table", LOGS) in {(op.kind.value, op.table) for op, _e in again.failed}
        applied = {(op.kind.value, op.table) for op in result.applied}
        failed = {(op.kind.value, op.table) for op, _e in result.failed}
        assert ("add_column", "sessions") in applied  # what the user may do, done
        # an index needs CREATE on the schema on PostgreSQL, the INDEX grant on MariaDB
        index = ("create_index", "flow_steps")
        assert index in (failed if db_kind == "postgresql" else applied)
        assert ("create_table", LOGS) in failed  # what it may not, reported
        remaining = {(i.kind.value, i.table) for i in result.after.items}
        assert ("missing_table", LOGS) in remaining
        assert ("missing_column", "sessions") not in remaining
    finally:
        engine.dispose()
    off = [r for r in caplog.records if "audit trail is off" in r.getMessage()]
    assert len(off) == 1 and "SCHEMAGUARD_AUDIT_TABLE" in off[0].getMessage()
    assert "schemaguard_events" not in fa.table_names(db_url)  # it could not be made


def test_not_null_column_filled_by_the_server_is_not_addable(db_url: str) -> None:
    """``FetchedValue()`` (a trigger fills it) gives ADD COLUMN no value for existing rows."""
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE things (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO things (id) VALUES (1)")
        md = sa.MetaData()
        sa.Table(
            "things",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("stamp", sa.Integer, nullable=False, server_default=sa.FetchedValue()),
            sa.Column("note", sa.Integer, server_default=sa.FetchedValue()),
        )
        app = Flask(__name__)
        app.config["SCHEMAGUARD_RUN_ON"] = "manual"
        guard = SchemaGuard(app, metadata=md, engine=engine)
        items = {i.name: i for i in guard.check(app=app).by_kind("missing_column")}
        assert not items["stamp"].healable and "NOT NULL" in (items["stamp"].hint or "")
        assert items["note"].healable
        result = guard.heal(app=app)
        assert result.failed == () and [op.name for op in result.applied] == ["note"]
    finally:
        engine.dispose()

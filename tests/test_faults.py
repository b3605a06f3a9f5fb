"""Faults during a heal, on real databases: a process killed mid-plan, a table locked by a long
transaction, the heal lock held by someone else.

- Crash: a child process heals the seed-000 drift with a runner that, after operation N, tells
  us and blocks; we SIGKILL it there. On PostgreSQL and SQLite nothing of its transaction is
  visible afterwards; on MySQL (DDL commits itself) the operations before the kill stay. Either
  way the next start completes the heal, every row is still there, and the audit trail shows
  each operation applied exactly once.
- Blocked table: another connection holds an open transaction that wrote to ``sessions``. The
  heal gives up on the operations that need that table within ``SCHEMAGUARD_DDL_LOCK_TIMEOUT``
  and reports them failed (SQLite: the heal lock itself times out and the report says so); the
  app starts and the other transaction commits its rows as if nothing happened.
- Lock held elsewhere: heal and check modes start with a ``lock_timeout`` item; strict raises.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from typing import Any

import _reliability as rel
import pytest
import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import SchemaGuard, SchemaGuardError
from flask_schemaguard.dialects import impl_for

OLD_TABLES = {"sessions", "flow_steps"}


def _start(url: str, **config: Any) -> tuple[Flask, sa.Engine]:
    engine = sa.create_engine(url)
    app = Flask(__name__)
    app.config.update(config)
    try:
        SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
    except BaseException:
        engine.dispose()
        raise
    return app, engine


def _audit_keys(url: str, outcome: str = "applied") -> list[tuple[Any, ...]]:
    return sorted(
        (
            (r["operation"], r["table_name"], r["object_name"])
            for r in rel.audit_rows(url)
            if r["outcome"] == outcome
        ),
        key=str,
    )


# -- crash -----------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql", "mysql", "pgbouncer"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """The three databases, and PostgreSQL through PgBouncer in transaction pooling."""
    return str(request.param)


#: Operations of the seed plan in PostgreSQL's short online transaction (table, column).
PHASE_A = 2


@pytest.mark.parametrize("online", [True, False], ids=["online", "all-in-one"])
@pytest.mark.parametrize("hang_after", [1, 7])
def test_killed_mid_heal_next_start_completes(
    db_kind: str, db_url: str, hang_after: int, online: bool
) -> None:
    if db_kind not in ("postgresql", "pgbouncer") and not online:
        pytest.skip("SCHEMAGUARD_ONLINE_DDL changes transactions on PostgreSQL only")
    rel.make_drifted(db_url)
    rows_before = rel.dump_rows(db_url)
    schema_before = rel.schema_snapshot(db_url)

    ctx = multiprocessing.get_context("spawn")
    reached = ctx.Event()
    child = ctx.Process(target=rel.heal_and_hang, args=(db_url, reached, hang_after, online))
    child.start()
    try:
        assert reached.wait(120), "the child never reached the hook"
        assert child.is_alive()
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    finally:
        child.join(30)
    assert child.exitcode == -signal.SIGKILL

    # what the killed heal left behind
    schema_after_kill = rel.schema_snapshot(db_url)
    atomic = db_kind == "sqlite" or (
        db_kind in ("postgresql", "pgbouncer") and (not online or hang_after <= PHASE_A)
    )
    if atomic:
        # one transaction (online: the short one of tables and columns): nothing of it, not
        # even the audit table it created
        assert schema_after_kill == schema_before
        assert rel.SEED_TABLE not in schema_after_kill
        assert rel.audit_rows(db_url) == []
        done_before = 0
    else:
        # MySQL commits each DDL, PostgreSQL online each index build after the short
        # transaction: the first operations are there, with their audit rows
        assert rel.SEED_TABLE in schema_after_kill
        assert len(_audit_keys(db_url)) == hang_after
        done_before = hang_after
    assert rel.dump_rows(db_url) == rows_before

    # the next start completes the heal (the dead process's lock went with its connection)
    app, engine = _start(db_url, SCHEMAGUARD_LOCK_TIMEOUT=20)
    try:
        result = app.extensions["schemaguard"].last_result
        assert result.failed == ()
        assert len(result.applied) == len(rel.EXPECTED_OPERATIONS) - done_before
        assert result.after.in_sync, result.after.to_dict()
    finally:
        engine.dispose()
    assert _audit_keys(db_url) == sorted(rel.EXPECTED_OPERATIONS, key=str)
    assert _audit_keys(db_url, "failed") == []
    assert rel.dump_rows(db_url) == rows_before


# -- blocked table ---------------------------------------------------------------------------
def _insert_session(conn: sa.Connection, id_: int) -> None:
    conn.execute(
        sa.text("INSERT INTO sessions (id, name, created_at) VALUES (:id, :name, '2025-12-11')"),
        {"id": id_, "name": f"blocker {id_}"},
    )


def test_blocked_table_heal_gives_up_app_starts(db_kind: str, db_url: str) -> None:
    rel.make_drifted(db_url)
    blocker = sa.create_engine(db_url)
    try:
        with blocker.connect() as other:
            other.begin()
            _insert_session(other, 100)  # an open transaction that wrote to sessions

            started = time.monotonic()
            app, engine = _start(db_url, SCHEMAGUARD_DDL_LOCK_TIMEOUT=1, SCHEMAGUARD_LOCK_TIMEOUT=1)
            elapsed = time.monotonic() - started
            try:
                state = app.extensions["schemaguard"]
                # the app started; on SQLite the heal lost the lock and is retried on a request
                assert state.startup_done or (db_kind == "sqlite" and state.startup_lock_lost)
                result = state.last_result
                assert app.test_client().get("/healthz/schema").status_code == 503  # drift left
            finally:
                engine.dispose()

            # the other transaction is unaffected: it goes on and commits
            _insert_session(other, 101)
            other.commit()
    finally:
        blocker.dispose()
    assert [r[0] for r in rel.dump_rows(db_url)["sessions"] if r[0] >= 100] == [100, 101]

    if db_kind == "sqlite":
        # SQLite has one write lock per database: the heal lock itself times out
        assert [i.kind.value for i in result.after.items][:1] == ["lock_timeout"]
        assert "SCHEMAGUARD_LOCK_TIMEOUT" in result.after.items[0].detail
        assert result.applied == () and result.failed == ()
        assert elapsed < 10
    else:
        failed = {(op.kind.value, op.table, op.name): error for op, error in result.failed}
        assert ("add_column", "sessions", "archived_at") in failed
        timeouts = [e for e in failed.values() if "lock" in e.lower() and "timeout" in e.lower()]
        assert timeouts, failed
        # each blocked DDL waited about the DDL timeout, not longer
        durations = {
            (r["operation"], r["table_name"], r["object_name"]): r for r in rel.audit_rows(db_url)
        }
        assert all(r["outcome"] == "failed" for k, r in durations.items() if k in failed)
        assert elapsed < 1.0 * len(timeouts) + 10
        # what did not need the locked table was applied
        assert ("create_index", "flow_steps", "ix_flow_steps_position") in {
            (op.kind.value, op.table, op.name) for op in result.applied
        }

    # once the transaction is gone, a heal completes the rest
    app, engine = _start(db_url)
    try:
        assert app.extensions["schemaguard"].last_result.after.in_sync
    finally:
        engine.dispose()
    assert _audit_keys(db_url) == sorted(rel.EXPECTED_OPERATIONS, key=str)


# -- heal lock held elsewhere ----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["heal", "strict"])
def test_heal_lock_held_elsewhere(db_url: str, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    rel.make_drifted(db_url)
    holder_engine = sa.create_engine(db_url)
    try:
        with holder_engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            holder = impl_for(conn).heal_session(
                conn, 5, 5
            )  # the very lock another process's heal takes
            holder.begin()
            try:
                started = time.monotonic()
                if mode == "strict":
                    with pytest.raises(SchemaGuardError, match="SCHEMAGUARD_LOCK_TIMEOUT"):
                        _start(db_url, SCHEMAGUARD_MODE=mode, SCHEMAGUARD_LOCK_TIMEOUT=1)
                else:
                    with caplog.at_level(logging.WARNING, logger="flask_schemaguard"):
                        app, engine = _start(db_url, SCHEMAGUARD_LOCK_TIMEOUT=1)
                    engine.dispose()
                    report = app.extensions["schemaguard"].last_report
                    assert report.by_kind("lock_timeout")
                    assert report.by_kind("missing_table")  # and the drift it could not heal
                    assert "could not get" in caplog.text
                assert time.monotonic() - started < 10
            finally:
                holder.rollback()
                holder.release()
    finally:
        holder_engine.dispose()
    assert rel.SEED_TABLE not in rel.schema_snapshot(db_url)

"""Online DDL (``SCHEMAGUARD_ONLINE_DDL``, on by default): what a heal holds while the app runs.

PostgreSQL: tables and columns in one short transaction, then each index built with
``CREATE INDEX CONCURRENTLY`` outside it; an index a killed build left invalid is reported
(``invalid_index``) and rebuilt with ``REINDEX INDEX CONCURRENTLY``; a column whose default
rewrites the table is left for a person. MySQL/MariaDB: ``ALGORITHM=INSTANT`` columns and
``INPLACE, LOCK=NONE`` indexes. The all-in-one mode (``False``) holds every lock to the end.
Each test checks what another connection can do *while* the heal is at a given point.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import Operation, SchemaGuard
from flask_schemaguard.report import LockLevel
from flask_schemaguard.state import get_state

ROWS = 20_000


def _old(engine: sa.Engine) -> None:
    """``hot`` and ``big`` as an older version of the models made them, with rows."""
    md = sa.MetaData()
    sa.Table("hot", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.Integer))
    sa.Table("big", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("k", sa.Integer))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["hot"].insert(), [{"id": i, "v": i} for i in range(1, 11)])
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                f"INSERT INTO big SELECT g, mod(g, 97) FROM generate_series(1, {ROWS}) g"
            )
        else:
            conn.execute(
                md.tables["big"].insert(), [{"id": i, "k": i % 97} for i in range(1, ROWS)]
            )


def _new_models(*, note_default: Any = None) -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "hot",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("v", sa.Integer),
        sa.Column("note", sa.String(40), server_default=note_default),
    )
    sa.Table(
        "big",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("k", sa.Integer),
        sa.Index("ix_big_k", "k"),
    )
    return md


def _guard(engine: sa.Engine, md: sa.MetaData, **config: Any) -> tuple[Flask, SchemaGuard]:
    app = Flask(__name__)
    app.config.update({"SCHEMAGUARD_RUN_ON": "manual", "SCHEMAGUARD_DDL_LOCK_TIMEOUT": 2, **config})
    return app, SchemaGuard(app, metadata=md, engine=engine)


def _hook(app: Flask, fn: Callable[[Operation], None]) -> None:
    get_state(app).runner.after_operation = fn  # type: ignore[method-assign]


def _can(engine: sa.Engine, sql: str) -> bool:
    """True when ``sql`` runs from another connection within 0.5 s (no lock in the way)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":  # LOCAL: behind PgBouncer too
            conn.exec_driver_sql("SET LOCAL lock_timeout = '500ms'")
        else:
            conn.exec_driver_sql("SET SESSION lock_wait_timeout = 1")
        try:
            conn.exec_driver_sql(sql)
            conn.commit()
            return True
        except sa.exc.OperationalError:
            conn.rollback()
            return False


@pytest.fixture(params=["sqlite", "postgresql", "mysql", "pgbouncer"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """The three databases, and PostgreSQL through PgBouncer in transaction pooling."""
    return str(request.param)


@pytest.fixture
def pg_engine(db_kind: str, engine: sa.Engine) -> Iterator[sa.Engine]:
    if db_kind not in ("postgresql", "pgbouncer"):
        pytest.skip("PostgreSQL's transactional DDL")
    yield engine


@pytest.mark.parametrize("online", [True, False], ids=["online", "all-in-one"])
def test_postgresql_index_build_holds_nothing_the_app_waits_for(
    pg_engine: sa.Engine, online: bool
) -> None:
    _old(pg_engine)
    app, guard = _guard(pg_engine, _new_models(), SCHEMAGUARD_ONLINE_DDL=online)
    seen: dict[str, bool] = {}

    def at(op: Operation) -> None:
        if op.kind.value == "create_index":  # the column is added; the index just built
            seen["read hot"] = _can(pg_engine, "SELECT count(*) FROM hot")
            seen["write hot"] = _can(pg_engine, "UPDATE hot SET v = v + 1 WHERE id = 1")
            seen["write big"] = _can(pg_engine, "INSERT INTO big VALUES (-1, 1)")

    _hook(app, at)
    result = guard.heal(app=app)
    assert result.failed == () and result.after.in_sync
    ops = {op.kind.value: op for op in result.applied}
    if online:
        assert seen == {"read hot": True, "write hot": True, "write big": True}
        assert ops["create_index"].statements[0].startswith("CREATE INDEX CONCURRENTLY")
        assert (ops["add_column"].lock, ops["create_index"].lock) == (
            LockLevel.BRIEF,
            LockLevel.NONE,
        )
    else:  # everything waits for the one commit at the end
        assert seen == {"read hot": False, "write hot": False, "write big": False}
        assert "CONCURRENTLY" not in ops["create_index"].sql
        assert ops["add_column"].lock is ops["create_index"].lock is LockLevel.BLOCKS_WRITES


def test_postgresql_short_transaction_is_bounded_in_hold_not_only_wait(
    pg_engine: sa.Engine,
) -> None:
    """Columns on two tables; the second is locked by the app: the whole short transaction
    gives up within the DDL lock timeout, so the first table is held no longer than that."""
    _old(pg_engine)
    md = _new_models()
    sa.Table("big", md, sa.Column("extra", sa.Integer), extend_existing=True)
    app, guard = _guard(pg_engine, md, SCHEMAGUARD_DDL_LOCK_TIMEOUT=1)
    with pg_engine.connect() as blocker:
        blocker.exec_driver_sql("LOCK TABLE big IN ACCESS SHARE MODE")  # a long reader
        started = time.monotonic()
        result = get_state(app).runner.heal()  # (guard.heal would dispose the pool under us)
        elapsed = time.monotonic() - started
        blocker.rollback()
    failed = {(op.kind.value, op.table): err for op, err in result.failed}
    assert ("add_column", "big") in failed and "SCHEMAGUARD_DDL_LOCK_TIMEOUT" in failed[
        ("add_column", "big")
    ]
    assert ("add_column", "hot") in {(op.kind.value, op.table) for op in result.applied}
    assert elapsed < 6


def _leave_invalid_index(engine: sa.Engine) -> None:
    """What a killed ``CREATE INDEX CONCURRENTLY`` leaves: the build waits for a writer's
    transaction, and is cancelled there (as when its process dies)."""
    with engine.connect() as writer:
        writer.exec_driver_sql("INSERT INTO big VALUES (-5, 5)")  # holds RowExclusiveLock
        builder = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        errors: list[BaseException] = []

        def build() -> None:
            try:
                builder.exec_driver_sql("CREATE INDEX CONCURRENTLY ix_big_k ON big (k)")
            except sa.exc.DBAPIError as exc:
                errors.append(exc)

        thread = threading.Thread(target=build)
        thread.start()
        with engine.connect() as admin:
            pid = None
            for _ in range(100):  # the builder's server backend (PgBouncer picks it)
                pid = admin.exec_driver_sql(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'CREATE INDEX CONCURRENTLY%%' "
                    "AND datname = current_database()"
                ).scalar()
                admin.rollback()
                if pid is not None:
                    break
                time.sleep(0.05)
            admin.exec_driver_sql(f"SELECT pg_cancel_backend({pid})")
        thread.join(10)
        builder.close()
        writer.rollback()
    assert errors, "the build should have been cancelled"


def test_postgresql_invalid_index_is_reported_and_rebuilt_without_a_drop(
    pg_engine: sa.Engine,
) -> None:
    _old(pg_engine)
    _leave_invalid_index(pg_engine)
    app, guard = _guard(pg_engine, _new_models())
    report = guard.check(app=app)
    invalid = report.by_kind("invalid_index")
    assert [(i.table, i.name, i.severity.value, i.healable) for i in invalid] == [
        ("big", "ix_big_k", "warning", True)
    ]
    assert not report.by_kind("missing_index")
    with pg_engine.connect() as conn:
        oid_before = conn.exec_driver_sql("SELECT 'ix_big_k'::regclass::oid").scalar()

    result = guard.heal(app=app)
    rebuilt = [op for op in result.applied if op.kind.value == "rebuild_index"]
    assert [op.sql for op in rebuilt] == ["REINDEX INDEX CONCURRENTLY ix_big_k"]
    assert rebuilt[0].lock is LockLevel.NONE
    assert result.after.in_sync, result.after.to_dict()
    with pg_engine.connect() as conn:
        valid = conn.exec_driver_sql(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_big_k'::regclass"
        ).scalar()
        assert valid is True
        oid_after = conn.exec_driver_sql("SELECT 'ix_big_k'::regclass::oid").scalar()
    assert oid_after != oid_before  # a new build swapped in (REINDEX), same name


def test_postgresql_volatile_default_is_left_for_a_person_online(pg_engine: sa.Engine) -> None:
    _old(pg_engine)
    volatile = sa.text("md5(random()::text)")
    app, guard = _guard(pg_engine, _new_models(note_default=volatile))
    plan = get_state(app).runner.plan_with_skipped()
    assert "add_column" not in {op.kind.value for op in plan.operations}
    (left,) = [i for i in plan.skipped if i.name == "note"]
    assert not left.healable
    assert "random()" in (left.hint or "") and "ALTER TABLE hot ADD COLUMN note" in (
        left.hint or ""
    )

    result = guard.heal(app=app)
    assert "note" not in {op.name for op in result.applied}
    assert [i.name for i in result.skipped if i.kind.value == "missing_column"] == ["note"]
    assert ("create_index", "ix_big_k") in {(op.kind.value, op.name) for op in result.applied}

    # the all-in-one mode runs it, and says it rewrites the table
    app2, guard2 = _guard(
        pg_engine, _new_models(note_default=volatile), SCHEMAGUARD_ONLINE_DDL=False
    )
    (op,) = guard2.plan(app=app2)
    assert (op.kind.value, op.lock) == ("add_column", LockLevel.REWRITES)
    assert guard2.heal(app=app2).after.in_sync


def test_postgresql_stable_default_is_healed_online(pg_engine: sa.Engine) -> None:
    _old(pg_engine)
    app, guard = _guard(pg_engine, _new_models(note_default=sa.text("now()::text")))
    result = guard.heal(app=app)
    assert result.after.in_sync and "note" in {op.name for op in result.applied}


@pytest.fixture
def mysql_engine(db_kind: str, engine: sa.Engine) -> Iterator[sa.Engine]:
    if db_kind != "mysql":
        pytest.skip("MySQL/MariaDB online ALTER")
    yield engine


def test_mysql_online_clauses_never_copy_the_table(mysql_engine: sa.Engine) -> None:
    _old(mysql_engine)
    md = _new_models()
    parent = sa.Table("owners", md, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "big",
        md,
        sa.Column("owner_id", sa.Integer, sa.ForeignKey(parent.c.id, name="fk_big_owner")),
        extend_existing=True,
    )
    app, guard = _guard(mysql_engine, md)
    plan = {(op.kind.value, op.table, op.name): op for op in guard.plan(app=app)}
    assert plan[("add_column", "hot", "note")].sql.endswith(", ALGORITHM=INSTANT")
    assert plan[("create_index", "big", "ix_big_k")].sql.endswith(" ALGORITHM=INPLACE LOCK=NONE")
    seen: dict[str, bool] = {}

    def at(op: Operation) -> None:
        seen[f"{op.kind.value} {op.table}"] = _can(
            mysql_engine, "INSERT INTO big (id, k) VALUES (-1, 1)"
        )
        with mysql_engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM big WHERE id = -1")

    _hook(app, at)
    result = guard.heal(app=app)
    assert result.failed == (), result.failed
    assert result.after.in_sync, result.after.to_dict()
    assert all(seen.values()), seen
    with mysql_engine.connect() as conn:  # the foreign key is there and enforced
        with pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql("UPDATE big SET owner_id = 12345 WHERE id = 1")


def test_lock_levels_per_database_and_mode(db_kind: str, engine: sa.Engine) -> None:
    _old(engine)
    levels = {}
    for online in (True, False):
        app, guard = _guard(engine, _new_models(), SCHEMAGUARD_ONLINE_DDL=online)
        levels[online] = {op.kind.value: op.lock.value for op in guard.plan(app=app)}
    expected = {
        "sqlite": ({"add_column": "blocks_writes", "create_index": "blocks_writes"},) * 2,
        "postgresql": (
            {"add_column": "brief", "create_index": "none"},
            {"add_column": "blocks_writes", "create_index": "blocks_writes"},
        ),
        "mysql": ({"add_column": "brief", "create_index": "brief"},) * 2,
    }[engine.dialect.name]
    assert (levels[True], levels[False]) == expected


def test_postgresql_index_build_cut_at_the_index_timeout_leaves_nothing(
    pg_engine: sa.Engine,
) -> None:
    """A build waiting for a writer's transaction is cancelled at SCHEMAGUARD_INDEX_TIMEOUT
    (a cancel request: it goes through PgBouncer too). Dropping its invalid leftover waits for
    the same writer, so it is cut too (after the DDL lock timeout): the index stays invalid,
    and the next heal rebuilds it."""
    _old(pg_engine)
    app, guard = _guard(pg_engine, _new_models(), SCHEMAGUARD_INDEX_TIMEOUT=0.5)
    with pg_engine.connect() as writer:
        writer.exec_driver_sql("INSERT INTO big VALUES (-7, 7)")  # an open write transaction
        started = time.monotonic()
        result = get_state(app).runner.heal()
        elapsed = time.monotonic() - started
        writer.rollback()
    failed = {op.name: error for op, error in result.failed}
    assert "SCHEMAGUARD_INDEX_TIMEOUT = 0.5 s" in failed["ix_big_k"]
    assert "the next heal rebuilds it" in failed["ix_big_k"]
    assert "note" in {op.name for op in result.applied}  # the column went in before
    assert elapsed < 0.5 + 2 + 5  # index timeout + DDL lock timeout + slack
    report = guard.check(app=app)
    assert [(i.kind.value, i.name) for i in report.items if i.severity.value != "info"] == [
        ("invalid_index", "ix_big_k")
    ]
    healed = guard.heal(app=app)  # the writer gone: rebuilt in place
    assert [op.kind.value for op in healed.applied] == ["rebuild_index"]
    assert healed.after.in_sync

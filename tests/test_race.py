"""Race: 8 OS processes start the app at the same instant against one drifted database.

Each round resets the database to the seed-000 drift (a missing table with 9 indexes, a missing
column, a missing index), then 8 worker processes (``spawn``, one pool for the whole module)
wait on a barrier and create a Flask app with ``SchemaGuard`` at once. Every process must start,
none may raise or warn, each object must be created exactly once (one ``applied`` audit row per
operation, no ``failed`` row), and the final check must be in sync with every row still there.
The heavier version of this is ``bench/stress.py``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import _reliability as rel
import pytest
import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import SchemaGuard

pytestmark = pytest.mark.slow

PROCESSES = 8
ROUNDS = 5


@pytest.fixture(params=["sqlite", "postgresql", "mysql", "pgbouncer"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """The three databases, and PostgreSQL through PgBouncer in transaction pooling."""
    return str(request.param)


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    """8 warm worker processes, shared by every round of every database."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    workers = ctx.Pool(PROCESSES, initializer=rel.init_worker, initargs=(barrier,))
    try:
        # every worker imports Flask and the guard now, so rounds measure starts, not imports
        pids = workers.map(rel.warm_up, range(PROCESSES), chunksize=1)
        assert len(set(pids)) == PROCESSES
        yield workers
    finally:
        workers.close()
        workers.join()


def _final_check(url: str) -> Any:
    engine = sa.create_engine(url)
    try:
        app = Flask(__name__)
        app.config["SCHEMAGUARD_RUN_ON"] = "manual"
        guard = SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
        report = guard.check(app=app)
        with engine.connect() as conn:
            rows = {
                name: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {name}").scalar()
                for name in ("sessions", "flow_steps", rel.SEED_TABLE)
            }
        return report, rows
    finally:
        engine.dispose()


def test_race_of_eight_processes(pool: Any, db_url: str) -> None:
    for round_no in range(ROUNDS):
        rel.make_drifted(db_url)
        # bounded: a hang fails the test instead of stalling the run
        outcomes = pool.map_async(rel.start_app, [db_url] * PROCESSES, chunksize=1).get(180)
        where = f"round {round_no}"

        assert len({o["pid"] for o in outcomes}) == PROCESSES, where
        assert [o["error"] for o in outcomes if o["error"]] == [], where
        assert [w for o in outcomes for w in o["warnings"]] == [], where
        for o in outcomes:
            assert o["failed"] == [], where
            assert o["report"]["in_sync"], (where, o["report"])
            assert o["after_in_sync"], where

        # between them the processes applied the plan exactly once ...
        applied = [op for o in outcomes for op in o["applied"]]
        assert sorted(applied, key=str) == sorted(rel.EXPECTED_OPERATIONS, key=str), where
        # ... and so says the audit trail: one applied row per operation, nothing failed
        rows = rel.audit_rows(db_url)
        duplicates, failed, never = rel.count_duplicates(rows)
        assert (duplicates, failed, never) == (0, 0, set()), (where, rows)
        assert len(rows) == len(rel.EXPECTED_OPERATIONS), where
        assert len({(r["pid"], r["host"]) for r in rows}) == 1, "one process healed everything"

        report, counts = _final_check(db_url)
        assert report.in_sync, (where, report.to_dict())
        assert counts == {"sessions": 5, "flow_steps": 3, rel.SEED_TABLE: 0}, where

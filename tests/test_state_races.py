"""A schema change that lands while a state is being recorded (by a migration that does not
take the guard's lock) never leaves a record that a later process takes for the new schema.

The change is made from another connection at each statement of a heal (then of
``status --record``) in turn; afterwards a new check-mode process, which trusts the record
when the fingerprint matches, must find exactly what a full check finds. PostgreSQL and
MariaDB only: on SQLite the heal's write transaction keeps every other writer out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from flask_schemaguard.engine.runner import Runner, Settings
from flask_schemaguard.engine.targets import metadata_target

CHECK_MODE = Settings(record_state_in_database=False)


def _models() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("note", sa.String(50)),
    )
    sa.Table("other", md, sa.Column("id", sa.Integer, primary_key=True))
    return md


@contextmanager
def change_at(engine: sa.Engine, index: int, db_url: str) -> Iterator[list[str]]:
    """Drop ``item.note`` from another connection just before the ``index``-th statement
    the block sends; yields the statements seen."""
    seen: list[str] = []
    other = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")

    def hook(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        seen.append(statement)
        if len(seen) != index:
            return
        with other.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET lock_timeout = '2s'")
            else:
                conn.exec_driver_sql("SET SESSION lock_wait_timeout = 2")
            try:
                conn.exec_driver_sql("ALTER TABLE item DROP COLUMN note")
            except sa.exc.OperationalError:  # the heal holds a lock on it: no change then
                pass

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)
        other.dispose()


def _reset(engine: sa.Engine, md: sa.MetaData) -> None:
    with engine.begin() as conn:
        for name in ("other", "item", "schemaguard_state", "schemaguard_events"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    md.tables["item"].create(engine)


def _fast_agrees_with_full(engine: sa.Engine, md: sa.MetaData) -> None:
    fast = Runner([metadata_target(md, engine)], CHECK_MODE).check()
    full = Runner([metadata_target(md, engine)], CHECK_MODE).check(fast=False)
    assert [i.to_dict() for i in fast.items] == [i.to_dict() for i in full.items]


def _statements_of(engine: sa.Engine, db_url: str, run: Callable[[], object]) -> int:
    with change_at(engine, 0, db_url) as seen:  # index 0: never fires; counts
        run()
    return len(seen)


@pytest.mark.parametrize("what", ["heal", "status --record"])
def test_a_change_during_recording_is_never_recorded_as_checked(
    engine: sa.Engine, db_url: str, what: str
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite: the heal's write transaction keeps every other writer out")
    md = _models()

    def run() -> object:
        runner = Runner([metadata_target(md, engine)], Settings())
        return runner.heal() if what == "heal" else runner.record()

    _reset(engine, md)
    if what == "status --record":
        md.tables["other"].create(engine)  # in sync: recorded
    total = _statements_of(engine, db_url, run)
    assert total > 3
    for index in range(1, total + 1):
        _reset(engine, md)
        if what == "status --record":
            md.tables["other"].create(engine)
        with change_at(engine, index, db_url):
            run()
        _fast_agrees_with_full(engine, md)

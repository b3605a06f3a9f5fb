"""Mapper changes never race the ORM: 8 threads read and write through the ORM while another
toggles degrade/restore of four columns (a Python default, a sequence default, an onupdate, a
foreign key with relationships over it) as fast as it can. Zero errors, on SQLite, PostgreSQL
and MariaDB/MySQL; bounded in count (``ROUNDS`` per thread) and time (``LIMIT`` seconds).

The columns exist in the database, so both states are right: degraded they read NULL and are
not written, restored they read what the database holds. No thread writes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import degrade_apps as da
import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import orm

from flask_schemaguard import orm_refresh as refresh
from flask_schemaguard.report import DatabaseInfo, Drift, DriftKind, DriftReport, Severity

THREADS = 8
ROUNDS = 25  # per thread; each round is 9 ORM operations
LIMIT = 90.0  # seconds, for the whole run


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()
    assert refresh.degraded_columns() == []


def reports(app: Flask) -> tuple[DriftReport, DriftReport]:
    """A report with the four columns missing, and one in sync (as checks would make them)."""
    target = app.extensions["schemaguard"].targets[0]
    database = DatabaseInfo(None, target.dialect, "masked", True)
    missing = tuple(
        Drift(DriftKind.MISSING_COLUMN, "notes", c.split(".")[1], Severity.ERROR, True, c)
        for c in da.MISSING
    )
    return DriftReport(missing, (database,)), DriftReport((), (database,))


def full_schema(db_kind: str, db_url: str) -> None:
    da.old_schema(db_url)
    timestamp = "DATETIME" if db_kind == "mysql" else "TIMESTAMP"
    fa.execute(
        db_url,
        "ALTER TABLE notes ADD COLUMN source VARCHAR(20)",
        "ALTER TABLE notes ADD COLUMN serial INTEGER",
        f"ALTER TABLE notes ADD COLUMN edited_at {timestamp}",
        "ALTER TABLE notes ADD COLUMN author_id INTEGER",
        "UPDATE notes SET source = 'db', author_id = 1",
    )


def work(app: Flask, worker: int, errors: list[str], done: list[int]) -> None:
    """ROUNDS rounds of reads and writes; every exception is an error."""
    models = fa.models_of(app)
    db, Note, Author = models.db, models.Note, models.Author
    base = 1000 * (worker + 1)
    with app.app_context():
        session = db.session
        for i in range(ROUNDS):
            try:
                notes = session.scalars(sa.select(Note).order_by(Note.id)).all()
                assert notes[0].source in (None, "db"), notes[0].source
                assert session.get(Note, 1) is not None
                assert Note.query.count() >= 1
                author = session.get(Author, 1)
                assert author is not None
                session.expire(author, ["notes"])
                assert all(n.id for n in author.notes)  # lazy one-to-many
                joined = session.scalars(
                    sa.select(Author).options(orm.joinedload(Author.notes))
                ).unique()
                assert joined.one().name == "ann"
                session.add(Note(id=base + i, body=f"w{worker}"))  # defaults left out or applied
                session.commit()
                note = session.get(Note, base + i)
                assert note is not None
                note.body = f"w{worker}-{i}"  # onupdate left out or applied
                session.commit()
                session.execute(sa.insert(Note), [{"id": base + 500 + i, "body": "bulk"}])
                session.execute(sa.update(Note).where(Note.id == base + 500 + i).values(body="b"))
                session.commit()
                done.append(1)
            except Exception as exc:  # the test counts every one
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                session.rollback()
        session.remove()


@pytest.mark.slow
def test_eight_threads_of_orm_work_while_degrade_and_restore_toggle(
    db_kind: str, db_url: str, tmp_path: Path
) -> None:
    full_schema(db_kind, db_url)
    app = da.build_app(db_url, tmp_path)
    assert refresh.degraded_columns() == []
    state = app.extensions["schemaguard"]
    missing, in_sync = reports(app)
    errors: list[str] = []
    done: list[int] = []
    toggles = 0
    stop = threading.Event()

    def toggle() -> None:
        nonlocal toggles
        with app.app_context():
            targets = state.targets
            while not stop.is_set():
                for report in (missing, in_sync):
                    refresh.sync_mappers(targets, report, degrade=True)
                    toggles += 1
                time.sleep(0.001)

    workers = [
        threading.Thread(target=work, args=(app, n, errors, done), daemon=True)
        for n in range(THREADS)
    ]
    toggler = threading.Thread(target=toggle, daemon=True)
    started = time.monotonic()
    toggler.start()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(max(0.0, LIMIT - (time.monotonic() - started)))
    stop.set()
    toggler.join(10)
    elapsed = time.monotonic() - started
    figures = (
        f"{db_kind}: {len(done)}/{THREADS * ROUNDS} rounds ({9 * len(done)} ORM operations), "
        f"{toggles} degrade/restore changes, {len(errors)} errors, {elapsed:.1f} s"
    )
    print(figures)
    assert not any(t.is_alive() for t in workers), "workers did not finish within LIMIT"
    assert errors == [], figures + "\n" + "\n".join(sorted(set(errors))[:10])
    assert len(done) == THREADS * ROUNDS
    assert toggles >= 20, figures
    refresh.sync_mappers(state.targets, in_sync, degrade=True)
    rows = fa.scalar(db_url, "SELECT count(*) FROM notes")
    assert rows == 1 + 2 * THREADS * ROUNDS  # no write lost

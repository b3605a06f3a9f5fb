"""Degraded columns across the ORM surface, on SQLite, PostgreSQL and MariaDB/MySQL.

The database lacks four model columns (see ``degrade_apps``): one with a Python-side default,
one with a sequence default, one with ``onupdate``, and a foreign key with relationships over
it. In check mode all four are degraded; each test drives one ORM pattern against them and
looks at what the database really holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import degrade_apps as da
import flask_apps as fa
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import orm

from flask_schemaguard import SchemaDriftError
from flask_schemaguard import orm_refresh as refresh

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()
    assert refresh.degraded_columns() == []


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Flask:
    assert refresh.degraded_columns() == []  # nothing leaked from an earlier test
    da.old_schema(db_url)
    app = da.build_app(db_url, tmp_path)
    assert refresh.degraded_columns() == da.MISSING
    return app


@pytest.fixture
def session(app: Flask) -> Iterator[orm.Session]:
    with app.app_context():
        session = fa.models_of(app).db.session
        yield session
        session.rollback()


def rows(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def columns(db_url: str) -> set[str]:
    return fa.column_names(db_url, "notes")


# -- reads ------------------------------------------------------------------------------------


def test_select_count_get_and_expressions_read_null(app: Flask, session: orm.Session) -> None:
    Note = fa.models_of(app).Note
    notes = session.scalars(sa.select(Note)).all()
    assert [(n.id, n.body, n.source, n.serial, n.edited_at, n.author_id) for n in notes] == [
        (1, "first", None, None, None, None)
    ]
    assert session.query(Note).count() == 1
    assert Note.query.count() == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Note)) == 1
    note = session.get(Note, 1)
    assert note is not None and note.source is None
    # the degraded column in an expression reads as NULL, in every clause
    assert session.scalars(sa.select(Note.source)).all() == [None]
    assert session.scalars(sa.select(Note).where(Note.source == "web")).all() == []
    assert session.scalars(sa.select(Note).where(Note.source.is_(None))).all() == [note]
    ordered = sa.select(Note).order_by(Note.source, Note.serial.desc()).group_by(Note.id)
    assert session.scalars(ordered.group_by(Note.source, Note.serial)).all() == [note]
    assert session.scalars(sa.select(Note).filter_by(author_id=1)).all() == []
    # refresh and expired attributes, alone or with others
    session.expire(note, ["source"])
    assert note.source is None
    session.refresh(note)
    assert (note.body, note.serial) == ("first", None)
    assert session.scalars(sa.select(Note).options(orm.load_only(Note.body))).one().source is None
    subquery = sa.select(Note).subquery()
    assert session.execute(sa.select(subquery.c.source)).scalars().all() == [None]


def test_reads_over_http(app: Flask) -> None:
    client = app.test_client()
    first = {"id": 1, "body": "first", "source": None, "serial": None, "edited": False}
    assert client.get("/notes").json == [{**first, "author_id": None}]
    assert client.get("/notes/1").json == {**first, "author_id": None}


# -- writes: Python-side, sequence and onupdate defaults are not written ----------------------


def test_insert_leaves_out_python_and_sequence_defaults(
    app: Flask, session: orm.Session, db_url: str
) -> None:
    Note = fa.models_of(app).Note
    session.add(Note(id=2, body="second"))
    session.add_all([Note(id=3, body="third"), Note(id=4, body="fourth")])  # executemany
    session.commit()
    assert rows(db_url, "SELECT id, body FROM notes ORDER BY id") == [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
    ]
    note = session.get(Note, 2)
    assert note is not None and (note.source, note.serial) == (None, None)
    assert columns(db_url) == {"id", "body"}
    response = app.test_client().post("/notes", json={"id": 5, "body": "fifth"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["source"] is None


def test_update_leaves_out_onupdate(app: Flask, session: orm.Session, db_url: str) -> None:
    Note = fa.models_of(app).Note
    note = session.get(Note, 1)
    assert note is not None
    note.body = "changed"
    session.commit()
    assert rows(db_url, "SELECT body FROM notes") == [("changed",)]
    assert note.edited_at is None
    response = app.test_client().patch("/notes/1", json={"body": "again"})
    assert response.status_code == 200 and response.json["body"] == "again"


def test_writing_a_value_to_a_degraded_column_raises(app: Flask, session: orm.Session) -> None:
    Note = fa.models_of(app).Note
    note = session.get(Note, 1)
    assert note is not None
    with pytest.raises(SchemaDriftError) as info:
        note.source = "api"
    assert (info.value.table, info.value.column) == ("notes", "source")
    assert "Note.source" in str(info.value) and "'notes.source'" in str(info.value)
    with pytest.raises(SchemaDriftError):
        Note(id=9, body="x", serial=7)
    # None and the column's own default change nothing, so they are accepted (not written)
    note.source = None
    note.source = "web"
    note.author_id = None
    session.commit()
    client = app.test_client()
    response = client.post("/notes", json={"id": 6, "body": "x", "source": "api"})
    assert response.status_code == 503 and response.mimetype == PROBLEM
    body = response.json
    assert (body["drift"], body["table"], body["column"]) == ("missing_column", "notes", "source")
    assert client.patch("/notes/1", json={"edited_at": None}).status_code == 200


# -- relationships over a degraded foreign key -------------------------------------------------


def test_relationships_over_a_degraded_foreign_key_load_as_empty_or_none(
    app: Flask, session: orm.Session
) -> None:
    models = fa.models_of(app)
    Note, Author = models.Note, models.Author
    note, author = session.get(Note, 1), session.get(Author, 1)
    assert note is not None and author is not None
    assert note.author is None  # lazy many-to-one
    assert author.notes == []  # lazy one-to-many
    session.expunge_all()
    for option in (orm.joinedload, orm.selectinload, orm.subqueryload, orm.immediateload):
        loaded = (
            session.scalars(
                sa.select(Author)
                .options(option(Author.notes))
                .execution_options(populate_existing=True)
            )
            .unique()
            .one()
        )
        assert loaded.notes == [], option
        loaded_note = (
            session.scalars(
                sa.select(Note)
                .options(option(Note.author))
                .execution_options(populate_existing=True)
            )
            .unique()
            .one()
        )
        assert loaded_note.author is None, option
    assert session.scalars(sa.select(Note).join(Note.author)).all() == []
    assert session.scalars(sa.select(Author).join(Author.notes)).all() == []
    assert [n.id for n in session.scalars(sa.select(Note).outerjoin(Note.author))] == [1]
    assert session.scalars(sa.select(Author).where(Author.notes.any())).all() == []
    assert session.scalars(sa.select(Note).where(Note.author.has())).all() == []
    assert session.scalars(sa.select(Note).where(orm.with_parent(author, Author.notes))).all() == []
    assert app.test_client().get("/authors/1").json == {"name": "ann", "notes": []}


def test_writing_through_a_degraded_relationship_raises(app: Flask, session: orm.Session) -> None:
    models = fa.models_of(app)
    Note, Author = models.Note, models.Author
    note, author = session.get(Note, 1), session.get(Author, 1)
    assert note is not None and author is not None
    with pytest.raises(SchemaDriftError) as info:
        note.author = author
    assert (info.value.table, info.value.column) == ("notes", "author_id")
    assert "Note.author" in str(info.value)
    with pytest.raises(SchemaDriftError):
        author.notes.append(Note(id=7, body="x"))
    with pytest.raises(SchemaDriftError):
        Note(id=8, body="x", author=author)
    session.rollback()
    note.author = None  # nothing to write
    session.delete(author)  # its (empty) collection is loaded, nothing to unlink
    session.commit()
    assert session.get(Author, 1) is None
    response = app.test_client().post("/authors/1/notes", json={"id": 9, "body": "x"})
    assert response.status_code == 404


def test_relationship_over_http_answers_problem_json(app: Flask) -> None:
    response = app.test_client().post("/authors/1/notes", json={"id": 9, "body": "x"})
    assert response.status_code == 503 and response.mimetype == PROBLEM
    assert (response.json["table"], response.json["column"]) == ("notes", "author_id")


def test_a_relationship_says_once_in_the_log_how_it_loads(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_schemaguard")
    da.old_schema(db_url)
    app = da.build_app(db_url, tmp_path)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/authors/1").status_code == 200
    lines = [r.getMessage() for r in caplog.records if "loads as" in r.getMessage()]
    assert sorted(lines) == [
        "schemaguard: Author.notes loads as empty while column 'notes.author_id' does not "
        "exist in the database; assigning to it raises SchemaDriftError",
        "schemaguard: Note.author loads as None while column 'notes.author_id' does not "
        "exist in the database; assigning to it raises SchemaDriftError",
    ]


# -- bulk statements ------------------------------------------------------------------------------


def test_bulk_insert_and_update_statements(app: Flask, session: orm.Session, db_url: str) -> None:
    Note = fa.models_of(app).Note
    session.execute(sa.insert(Note), [{"id": 2, "body": "two"}, {"id": 3, "body": "three"}])
    session.execute(sa.insert(Note).values(id=4, body="four"))
    session.execute(sa.update(Note).where(Note.id == 2).values(body="zwei"))
    session.execute(sa.update(Note), [{"id": 3, "body": "drei"}])
    unmatched = sa.update(Note).where(Note.source == "web").values(body="x")
    assert session.execute(unmatched).rowcount == 0  # the column reads as NULL
    session.execute(sa.delete(Note).where(Note.id == 4))
    session.commit()
    assert rows(db_url, "SELECT id, body FROM notes ORDER BY id") == [
        (1, "first"),
        (2, "zwei"),
        (3, "drei"),
    ]
    with pytest.raises(SchemaDriftError) as info:
        session.execute(sa.insert(Note), [{"id": 5, "body": "five", "source": "api"}])
    assert info.value.column == "source"
    with pytest.raises(SchemaDriftError):
        session.execute(sa.update(Note), [{"id": 2, "serial": 3}])
    session.rollback()
    session.execute(sa.insert(Note), [{"id": 5, "body": "five", "source": None}])
    session.commit()
    assert len(rows(db_url, "SELECT id FROM notes")) == 4


@fa.SQLITE_ONLY
def test_a_sqlalchemy_without_the_internals_degrades_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As on a SQLAlchemy version that lacks an internal the degrade code needs: it says so,
    degrades nothing, and a request on a missing column gets the problem JSON (never a 500)."""
    from flask_schemaguard import orm_degrade, orm_internals

    monkeypatch.setattr(orm_internals, "_missing", "Mapper._cols_by_table")
    monkeypatch.setattr(orm_degrade, "_installed", None)
    da.old_schema(db_url)
    with caplog.at_level(logging.WARNING, logger="flask_schemaguard"):
        app = da.build_app(db_url, tmp_path)
    assert "lacks Mapper._cols_by_table" in caplog.text
    assert refresh.degraded_columns() == []
    response = app.test_client().get("/notes")
    assert response.status_code == 503 and response.mimetype == PROBLEM
    assert response.json["table"] == "notes"


def test_a_degraded_columns_sequence_is_still_planned_and_healed(
    db_kind: str, db_url: str, tmp_path: Path
) -> None:
    """Degrading takes the column's Sequence off SQLAlchemy's INSERTs, not off the models: a
    check, a plan and a heal while it is degraded still see the sequence the database lacks."""
    if db_kind == "sqlite":
        pytest.skip("SQLite has no sequences")
    da.old_schema(db_url)
    fa.execute(db_url, f"DROP SEQUENCE {da.SEQUENCE}")
    app = da.build_app(db_url, tmp_path)
    assert refresh.degraded_columns() == da.MISSING
    guard = app.extensions["schemaguard"].guard
    for _ in range(2):  # the startup check's targets, then the same again while degraded
        report = guard.check(app=app)
        assert ("missing_sequence", da.SEQUENCE) in {(i.kind.value, i.name) for i in report.items}
        planned = [op.describe() for op in guard.plan(app=app)]
        assert planned[0] == f"create_sequence notes.{da.SEQUENCE}", planned
    result = guard.heal(app=app)
    assert not result.failed and refresh.degraded_columns() == []
    created = app.test_client().post("/notes", json={"id": 2, "body": "b"})
    assert created.status_code == 201 and created.json["serial"] is not None  # nextval, again
    assert created.json["source"] == "web"

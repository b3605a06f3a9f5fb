"""An app whose models are newer than its database, for the degrade tests.

The database (made with raw DDL, not the models) has ``authors(id, name)`` and
``notes(id, body)`` with one row each. The model ``Note`` has four more columns, none of
them in the database:

- ``source``: a Python-side ``default="web"``;
- ``serial``: a ``Sequence`` default (the sequence exists on PostgreSQL and MariaDB; SQLite
  has no sequences, so there it is a plain nullable column);
- ``edited_at``: an ``onupdate`` (a Python callable);
- ``author_id``: a foreign key to ``authors``, with the relationships ``Note.author``
  (many-to-one) and ``Author.notes`` (one-to-many) over it.

In check mode all four are degraded at startup. The views are the ORM patterns a Flask app
uses; apps are registered with ``flask_apps`` so that ``flask_apps.cleanup()`` disposes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import flask_apps as fa
import sqlalchemy as sa
from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm
from sqlalchemy.orm import DeclarativeBase, mapped_column, relationship

from flask_schemaguard import SchemaGuard

#: The model columns the old database lacks.
MISSING = ["notes.author_id", "notes.edited_at", "notes.serial", "notes.source"]
SEQUENCE = "notes_serial_seq"


def old_schema(db_url: str) -> None:
    """``authors(id, name)`` and ``notes(id, body)``, one row each (and the sequence)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE authors (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL)"
            )
            conn.exec_driver_sql(
                "CREATE TABLE notes (id INTEGER NOT NULL PRIMARY KEY, body VARCHAR(100) NOT NULL)"
            )
            conn.exec_driver_sql("INSERT INTO authors (id, name) VALUES (1, 'ann')")
            conn.exec_driver_sql("INSERT INTO notes (id, body) VALUES (1, 'first')")
            if engine.dialect.supports_sequences:
                conn.exec_driver_sql(f"CREATE SEQUENCE {SEQUENCE}")
    finally:
        engine.dispose()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def define_models() -> SimpleNamespace:
    class Base(DeclarativeBase):
        pass

    db = SQLAlchemy(model_class=Base)

    class Author(db.Model):  # type: ignore[name-defined, misc]
        __tablename__ = "authors"
        id = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
        name = mapped_column(sa.String(50), nullable=False)
        notes = relationship("Note", back_populates="author", order_by="Note.id")

    class Note(db.Model):  # type: ignore[name-defined, misc]
        __tablename__ = "notes"
        id = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
        body = mapped_column(sa.String(100), nullable=False)
        source = mapped_column(sa.String(20), default="web")
        serial = mapped_column(sa.Integer, sa.Sequence(SEQUENCE))
        edited_at = mapped_column(sa.DateTime, onupdate=_utcnow)
        author_id = mapped_column(sa.ForeignKey("authors.id"))
        author = relationship(Author, back_populates="notes")

    return SimpleNamespace(db=db, Author=Author, Note=Note)


def note_json(note: Any) -> dict[str, Any]:
    return {
        "id": note.id,
        "body": note.body,
        "source": note.source,
        "serial": note.serial,
        "edited": note.edited_at is not None,
        "author_id": note.author_id,
    }


def build_app(
    db_url: str,
    tmp_path: os.PathLike[str] | str,
    config: Mapping[str, Any] | None = None,
    *,
    name: str = "notes",
    setup: Callable[[Flask], None] | None = None,
) -> Flask:
    """Flask-SQLAlchemy on ``db_url`` with views over ``Note`` and ``Author``, then the guard
    (``setup(app)`` runs just before it: Flask-Migrate, error handlers...)."""
    app = Flask(name, instance_path=os.path.join(os.fspath(tmp_path), f"instance-{name}"))
    app.config.update(TESTING=True, SQLALCHEMY_DATABASE_URI=db_url)
    app.config.update({"SCHEMAGUARD_MODE": "check", **(config or {})})
    models = define_models()
    db, Note, Author = models.db, models.Note, models.Author
    db.init_app(app)
    app.extensions["models"] = models
    fa._built.append(app)

    @app.get("/notes")
    def list_notes() -> Any:
        notes = db.session.scalars(sa.select(Note).order_by(Note.id)).all()
        return jsonify([note_json(n) for n in notes])

    @app.get("/notes/<int:note_id>")
    def get_note(note_id: int) -> Any:
        return jsonify(note_json(db.get_or_404(Note, note_id)))

    @app.post("/notes")
    def add_note() -> Any:
        data = request.get_json()
        note = Note(**data)
        db.session.add(note)
        db.session.commit()
        return jsonify(note_json(note)), 201

    @app.patch("/notes/<int:note_id>")
    def edit_note(note_id: int) -> Any:
        note = db.get_or_404(Note, note_id)
        for key, value in request.get_json().items():
            setattr(note, key, value)
        db.session.commit()
        return jsonify(note_json(note))

    @app.get("/authors/<int:author_id>")
    def get_author(author_id: int) -> Any:
        author = db.session.scalars(
            sa.select(Author).where(Author.id == author_id).options(orm.selectinload(Author.notes))
        ).one()
        return jsonify(name=author.name, notes=[n.id for n in author.notes])

    @app.post("/authors/<int:author_id>/notes")
    def add_author_note(author_id: int) -> Any:
        author = db.get_or_404(Author, author_id)
        data = request.get_json()
        author.notes.append(Note(id=data["id"], body=data["body"]))
        db.session.commit()
        return "", 201

    if setup is not None:
        setup(app)
    SchemaGuard(app)
    return app

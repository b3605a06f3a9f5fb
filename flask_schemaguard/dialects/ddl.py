"""The DDL statements SQLAlchemy has no construct for: ``ALTER TABLE ... ADD COLUMN``,
``CREATE INDEX`` with MySQL's online clauses and PostgreSQL's ``REINDEX INDEX CONCURRENTLY``.

Built the way Alembic builds it (``alembic/ddl/base.py``): a ``DDLElement`` compiled by the
dialect's own DDL compiler, so the column specification, the foreign key's name, its
``ON DELETE`` / ``ON UPDATE`` (validated by SQLAlchemy) and ``DEFERRABLE`` are exactly what
``CREATE TABLE`` would write.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, ExecutableDDLElement

#: How a foreign key on the new column is written: ``None`` (not here: a separate
#: ``AddConstraint``), ``"inline"`` (a column constraint, SQLite) or ``"clause"`` (a second
#: ``ADD`` clause of the same ALTER TABLE, MySQL/MariaDB).
ForeignKeyStyle = Literal["inline", "clause"] | None


class AddColumn(ExecutableDDLElement):
    """``ALTER TABLE <table> ADD COLUMN <column>`` (with its foreign key, by ``style``)."""

    inherit_cache = False

    def __init__(
        self,
        table: sa.Table,
        column: sa.Column[Any],
        foreign_key: sa.ForeignKeyConstraint | None = None,
        style: ForeignKeyStyle = None,
    ) -> None:
        self.table = table
        self.column = column
        self.foreign_key = foreign_key if style is not None else None
        self.style = style
        #: MySQL/MariaDB online clauses (``ALGORITHM=INSTANT``, ``LOCK=NONE``), or None.
        self.algorithm: str | None = None
        self.lock: str | None = None

    def online(self, algorithm: str | None, lock: str | None = None) -> AddColumn:
        """The same statement with MySQL's ``ALGORITHM`` / ``LOCK`` clauses."""
        copy = AddColumn(self.table, self.column, self.foreign_key, self.style)
        copy.algorithm, copy.lock = algorithm, lock
        return copy


class OnlineCreateIndex(CreateIndex):
    """``CREATE INDEX ... ALGORITHM=<a> LOCK=<l>`` (MySQL/MariaDB online index build)."""

    inherit_cache = False

    def __init__(self, index: sa.Index, algorithm: str, lock: str | None) -> None:
        super().__init__(index)
        self.algorithm = algorithm
        self.lock = lock


class ReindexIndex(ExecutableDDLElement):
    """``REINDEX INDEX [CONCURRENTLY] <index>`` (PostgreSQL; concurrently from 12): an index
    rebuilt where it stands, without a drop."""

    inherit_cache = False

    def __init__(self, name: str, schema: str | None, concurrently: bool = True) -> None:
        self.name = name
        self.schema = schema
        self.concurrently = concurrently


@compiles(ReindexIndex)
def _compile_reindex(element: ReindexIndex, compiler: Any, **kw: Any) -> str:
    preparer = compiler.preparer
    name = preparer.quote(element.name)
    if element.schema:
        name = f"{preparer.quote_schema(element.schema)}.{name}"
    return f"REINDEX INDEX {'CONCURRENTLY ' if element.concurrently else ''}{name}"


@compiles(OnlineCreateIndex)
def _compile_online_index(element: OnlineCreateIndex, compiler: Any, **kw: Any) -> str:
    text = str(compiler.visit_create_index(element, **kw))
    return text + _online_clauses(element.algorithm, element.lock, " ")


def _online_clauses(algorithm: str | None, lock: str | None, sep: str) -> str:
    parts = [f"ALGORITHM={algorithm}"] if algorithm else []
    parts += [f"LOCK={lock}"] if lock else []
    return "".join(sep + p for p in parts)


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: Any, **kw: Any) -> str:
    preparer = compiler.preparer
    text = (
        f"ALTER TABLE {preparer.format_table(element.table)} "
        f"ADD COLUMN {compiler.get_column_specification(element.column)}"
    )
    fk = element.foreign_key
    if fk is not None and element.style == "clause":
        text += ", ADD " + str(compiler.process(fk))
    elif fk is not None:
        text += " " + _references(compiler, fk)
    return text + _online_clauses(element.algorithm, element.lock, ", ")


def _references(compiler: Any, fk: sa.ForeignKeyConstraint) -> str:
    """A column constraint: ``[CONSTRAINT n] REFERENCES t (c) [MATCH] [ON ...] [DEFERRABLE]``."""
    preparer = compiler.preparer
    remote = fk.elements[0].column.table
    text = ""
    if fk.name is not None:
        name = preparer.format_constraint(fk)
        if name is not None:
            text = f"CONSTRAINT {name} "
    text += (
        f"REFERENCES {compiler.define_constraint_remote_table(fk, remote, preparer)} ("
        + ", ".join(preparer.quote(e.column.name) for e in fk.elements)
        + ")"
    )
    text += compiler.define_constraint_match(fk)
    text += compiler.define_constraint_cascades(fk)
    text += compiler.define_constraint_deferrability(fk)
    return str(text)

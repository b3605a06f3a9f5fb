"""The one DDL statement SQLAlchemy has no construct for: ``ALTER TABLE ... ADD COLUMN``.

Built the way Alembic builds it (``alembic/ddl/base.py``): a ``DDLElement`` compiled by the
dialect's own DDL compiler, so the column specification, the foreign key's name, its
``ON DELETE`` / ``ON UPDATE`` (validated by SQLAlchemy) and ``DEFERRABLE`` are exactly what
``CREATE TABLE`` would write.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement

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


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: Any, **kw: Any) -> str:
    preparer = compiler.preparer
    text = (
        f"ALTER TABLE {preparer.format_table(element.table)} "
        f"ADD COLUMN {compiler.get_column_specification(element.column)}"
    )
    fk = element.foreign_key
    if fk is None:
        return text
    if element.style == "clause":
        return text + ", ADD " + str(compiler.process(fk))
    return text + " " + _references(compiler, fk)


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

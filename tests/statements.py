"""The statements an engine sends, as its ``before_cursor_execute`` event sees them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

#: Statements of a fast-path hit in a new process: PostgreSQL asks whether the state table
#: exists with the fingerprint (a query naming a missing table would be logged as an ERROR by
#: the server at every start), then reads the row; elsewhere one statement.
HIT_STATEMENTS = {"postgresql": 2}


def hit_statements(engine: sa.Engine) -> int:
    return HIT_STATEMENTS.get(engine.dialect.name, 1)


@contextmanager
def counted(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements ``engine`` sends inside the block."""
    statements: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)

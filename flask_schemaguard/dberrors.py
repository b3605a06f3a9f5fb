"""Recognise "missing table" and "missing column" errors from SQLite, PostgreSQL and MySQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from .report import DriftKind


@dataclass(frozen=True)
class SchemaError:
    """What a database error says is missing."""

    kind: DriftKind  # MISSING_TABLE or MISSING_COLUMN
    table: str | None
    column: str | None


_SQLITE_TABLE = re.compile(r"no such table: (?:main\.)?([\w$.]+)")
_SQLITE_COLUMN = re.compile(r"no such column: ([\w$.]+)")
_SQLITE_INSERT_COLUMN = re.compile(r"table ([\w$.]+) has no column named ([\w$]+)")
_PG_TABLE = re.compile(r'relation "([^"]+)" does not exist')
_PG_COLUMN_OF = re.compile(r'column "([^"]+)" of relation "([^"]+)" does not exist')
_PG_COLUMN = re.compile(r'column "?([\w$.]+?)"? does not exist')
_MYSQL_TABLE = re.compile(r"Table '([^']+)' doesn't exist")
_MYSQL_COLUMN = re.compile(r"Unknown column '([^']+)'")
_FROM_TABLE = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN)\s+[`\"]?([\w$]+)[`\"]?(?:\.[`\"]?([\w$]+)[`\"]?)?", re.I
)


def classify(exc: BaseException) -> SchemaError | None:
    """The missing object behind ``exc``, or None when it is some other error."""
    message = _message(exc)
    statement = getattr(exc, "statement", None) or ""
    for pattern in (_SQLITE_INSERT_COLUMN,):
        m = pattern.search(message)
        if m:
            return SchemaError(DriftKind.MISSING_COLUMN, _last(m.group(1)), m.group(2))
    m = _PG_COLUMN_OF.search(message)
    if m:
        return SchemaError(DriftKind.MISSING_COLUMN, _last(m.group(2)), m.group(1))
    for pattern in (_SQLITE_TABLE, _PG_TABLE, _MYSQL_TABLE):
        m = pattern.search(message)
        if m:
            return SchemaError(DriftKind.MISSING_TABLE, _last(m.group(1)), None)
    for pattern in (_SQLITE_COLUMN, _PG_COLUMN, _MYSQL_COLUMN):
        m = pattern.search(message)
        if m:
            parts = m.group(1).split(".")
            column = parts[-1]
            table = parts[-2] if len(parts) > 1 else _table_in(statement)
            return SchemaError(DriftKind.MISSING_COLUMN, table, column)
    return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        orig = exc.orig
        code = getattr(orig, "args", (None,))[0]
        if isinstance(code, int):  # MySQL/MariaDB: only "no such table" and "unknown column"
            return str(orig) if code in (1146, 1054) else ""
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate is not None and sqlstate not in ("42P01", "42703"):  # PostgreSQL
            return ""
        return str(orig)
    # PendingRollbackError and friends carry the original error in their text
    return str(exc)


def _last(name: str) -> str:
    return name.split(".")[-1]


def _table_in(statement: str) -> str | None:
    m = _FROM_TABLE.search(statement)
    if m is None:
        return None
    return m.group(2) or m.group(1)

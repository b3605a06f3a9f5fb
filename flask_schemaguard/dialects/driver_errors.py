"""What a driver error says, independent of the database: its code, its message, names in it.

Each dialect classifies its own errors (``DialectImpl.classify``) by the driver's error code
first and reads the object's name from the message in any language the server speaks; the
English message patterns are the last resort. These are the pieces they share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..report import DriftKind


@dataclass(frozen=True)
class SchemaError:
    """What a database error says is missing."""

    kind: DriftKind  # MISSING_TABLE or MISSING_COLUMN
    table: str | None
    column: str | None


def driver_error(exc: BaseException) -> BaseException | None:
    """The DB-API exception behind a SQLAlchemy error (None for other errors)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return None


def first_arg_code(orig: BaseException | None) -> int | None:
    """``args[0]`` when it is an integer: the errno of PyMySQL and mysqlclient errors."""
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) and not isinstance(args[0], bool) else None


def first_line(orig: BaseException) -> str:
    """The first line of a driver message (never the SQL or its parameters)."""
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


# Quotes servers put around names, in the languages they translate their messages into.
_QUOTED = re.compile(
    r'"([^"]+)"|\'([^\']+)\'|`([^`]+)`|»([^«]+)«|«([^»]+)»|„([^“”]+)[“”]|“([^”]+)”'
)
_DOTTED = re.compile(r"(?<![\w$])([A-Za-z_][\w$]*)\.([A-Za-z_][\w$]*)(?![\w$(])")
_FROM_TABLE = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN)\s+[`\"]?([\w$]+)[`\"]?(?:\.[`\"]?([\w$]+)[`\"]?)?", re.I
)


def quoted_names(message: str) -> list[str]:
    """Every quoted name in a message, in order, whatever the quote characters."""
    return [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(message)]


def dotted_name(message: str) -> tuple[str, str] | None:
    """The first unquoted ``table.column`` in a message."""
    m = _DOTTED.search(message)
    return (m.group(1), m.group(2)) if m else None


def last_part(name: str) -> str:
    """``column`` of ``schema.table.column``."""
    return name.split(".")[-1]


def table_in_statement(exc: BaseException) -> str | None:
    """The first table a statement reads or writes (when the message names none)."""
    statement = getattr(exc, "statement", None) or ""
    m = _FROM_TABLE.search(statement)
    if m is None:
        return None
    return m.group(2) or m.group(1)


#: An English message pattern: (regex, kind, group of the table name, group of the column).
MessagePattern = tuple["re.Pattern[str]", DriftKind, int | None, int | None]


def classify_message(
    exc: BaseException, text: str, patterns: tuple[MessagePattern, ...]
) -> SchemaError | None:
    """The first pattern that matches ``text`` says what is missing."""
    for pattern, kind, table_group, column_group in patterns:
        m = pattern.search(text)
        if m is None:
            continue
        table = last_part(m.group(table_group)) if table_group is not None else None
        if kind is DriftKind.MISSING_TABLE or column_group is None:
            return SchemaError(kind, table, None)
        return missing_column(exc, m.group(column_group), table)
    return None


def missing_column(exc: BaseException, column: str, table: str | None) -> SchemaError:
    """A missing-column error; a qualified ``table.column`` names its table."""
    parts = column.split(".")
    if len(parts) > 1:
        return SchemaError(DriftKind.MISSING_COLUMN, parts[-2], parts[-1])
    return SchemaError(DriftKind.MISSING_COLUMN, table or table_in_statement(exc), column)

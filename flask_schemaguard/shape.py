"""Plain, database-free descriptions of a schema: what the diff compares.

Both sides are turned into these shapes first: the models (``modelshape``) and the live
database (``reflect``). The diff then never touches SQLAlchemy ``Table`` objects or a
connection, which keeps it pure and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TableKey = tuple[str | None, str]


@dataclass(frozen=True)
class ColumnShape:
    name: str
    type_text: str
    nullable: bool
    default: str | None = None


@dataclass(frozen=True)
class IndexShape:
    name: str | None
    columns: tuple[str, ...]
    unique: bool = False
    #: False for an index a killed concurrent build left behind (PostgreSQL ``indisvalid``).
    valid: bool = True


@dataclass(frozen=True)
class ForeignKeyShape:
    name: str | None
    columns: tuple[str, ...]
    referred_schema: str | None
    referred_table: str
    referred_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableShape:
    schema: str | None
    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexShape, ...] = ()
    uniques: tuple[IndexShape, ...] = ()
    foreign_keys: tuple[ForeignKeyShape, ...] = ()


@dataclass(frozen=True)
class SchemaShape:
    """Tables of one bind, keyed by ``(schema, name)`` as given (not folded)."""

    dialect: str
    tables: dict[TableKey, TableShape] = field(default_factory=dict)
    schemas: tuple[str | None, ...] = (None,)
    enums: frozenset[tuple[str | None, str]] = frozenset()
    #: Table names compared with their case (MySQL/MariaDB with lower_case_table_names=0,
    #: the Linux default); column and index names never are there.
    case_sensitive_tables: bool = False

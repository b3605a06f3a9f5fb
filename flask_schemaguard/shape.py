"""Plain, database-free descriptions of a schema: what the diff compares.

Both sides are turned into these shapes first: the models (``modelshape``) and the live
database (``reflect``). The diff then never touches SQLAlchemy ``Table`` objects or a
connection, which keeps it pure and fast.

The shapes are values: treat them as immutable. They are slotted, not frozen, dataclasses
because a check builds tens of thousands of them and a frozen dataclass's ``__init__`` costs
five times as much (``unsafe_hash`` keeps them hashable, as frozen ones are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TableKey = tuple[str | None, str]
#: A schema-level object (sequence, named type): ``(schema, name)``.
ObjectKey = tuple[str | None, str]


@dataclass(slots=True, unsafe_hash=True)
class ColumnShape:
    name: str
    type_text: str
    nullable: bool
    default: str | None = None
    #: The labels of an ENUM / SET type (None for any other type).
    labels: tuple[str, ...] | None = None
    #: ``"stored"`` or ``"virtual"`` for a generated (computed) column.
    generated: str | None = None
    #: The sequence the column's values come from (model side: ``sa.Sequence``).
    sequence: ObjectKey | None = None


@dataclass(slots=True, unsafe_hash=True)
class IndexShape:
    name: str | None
    columns: tuple[str, ...]
    unique: bool = False
    #: True when at least one element is an expression (compared by name only).
    expression: bool = False
    #: False for an index a killed concurrent build left behind (PostgreSQL ``indisvalid``).
    valid: bool = True


@dataclass(slots=True, unsafe_hash=True)
class ForeignKeyShape:
    name: str | None
    columns: tuple[str, ...]
    referred_schema: str | None
    referred_table: str
    referred_columns: tuple[str, ...]
    #: Normalised actions: lower case, None for the database's default (NO ACTION).
    ondelete: str | None = None
    onupdate: str | None = None
    #: ``"not deferrable"``, ``"deferrable"`` or ``"initially deferred"``; None: unknown.
    deferrable: str | None = None


@dataclass(slots=True, unsafe_hash=True)
class TableShape:
    schema: str | None
    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexShape, ...] = ()
    uniques: tuple[IndexShape, ...] = ()
    foreign_keys: tuple[ForeignKeyShape, ...] = ()


class EnumTypes(frozenset[ObjectKey]):
    """The named enum types of a database, ``(schema, name)``, with each one's labels."""

    labels: Mapping[ObjectKey, tuple[str, ...]]

    def __new__(
        cls, labels: Mapping[ObjectKey, tuple[str, ...]] | Iterable[ObjectKey] = ()
    ) -> EnumTypes:
        mapping = dict(labels) if isinstance(labels, Mapping) else {k: () for k in labels}
        self = super().__new__(cls, mapping)
        self.labels = mapping
        return self


@dataclass(frozen=True)
class SchemaShape:
    """Tables of one bind, keyed by ``(schema, name)`` as given (not folded)."""

    dialect: str
    tables: dict[TableKey, TableShape] = field(default_factory=dict)
    schemas: tuple[str | None, ...] = (None,)
    enums: frozenset[ObjectKey] = frozenset()
    #: Table names compared with their case (MySQL/MariaDB with lower_case_table_names=0,
    #: the Linux default); column and index names never are there.
    case_sensitive_tables: bool = False
    #: Sequences of the reflected schemas (model side: those the columns use).
    sequences: frozenset[ObjectKey] = frozenset()
    #: The reflected schemas that do not exist (None, the default schema, always exists).
    missing_schemas: frozenset[str] = frozenset()

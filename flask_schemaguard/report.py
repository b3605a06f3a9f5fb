"""Result objects: drift findings, operations and heal results (frozen dataclasses)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class _Named(str, enum.Enum):
    """An enum whose members print as their string value."""

    def __str__(self) -> str:
        return str(self.value)


class DriftKind(_Named):
    """What differs between the models and the live database."""

    MISSING_TABLE = "missing_table"
    MISSING_COLUMN = "missing_column"
    MISSING_INDEX = "missing_index"
    MISSING_UNIQUE_CONSTRAINT = "missing_unique_constraint"
    MISSING_FOREIGN_KEY = "missing_foreign_key"
    TYPE_MISMATCH = "type_mismatch"
    NULLABLE_MISMATCH = "nullable_mismatch"
    PRIMARY_KEY_MISMATCH = "primary_key_mismatch"
    MISSING_SEQUENCE = "missing_sequence"
    ENUM_MISMATCH = "enum_mismatch"
    FOREIGN_KEY_MISMATCH = "foreign_key_mismatch"
    MISSING_SCHEMA = "missing_schema"
    INVALID_INDEX = "invalid_index"
    EXTRA_TABLE = "extra_table"
    EXTRA_COLUMN = "extra_column"
    EXTRA_INDEX = "extra_index"
    PENDING_MIGRATIONS = "pending_migrations"
    DATABASE_UNREACHABLE = "database_unreachable"
    LOCK_TIMEOUT = "lock_timeout"


class Severity(_Named):
    """How much a drift item matters: ``error`` breaks queries, ``info`` never does."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Drift:
    """One difference between the models and the database."""

    kind: DriftKind
    table: str | None
    name: str | None
    severity: Severity
    healable: bool
    detail: str
    bind: str | None = None
    schema: str | None = None
    hint: str | None = None

    def where(self) -> str:
        """``schema.table.name`` (the parts it has): what the item is about."""
        parts = [self.schema, self.table, self.name]
        if self.kind is DriftKind.MISSING_SCHEMA:
            parts = [self.name]
        return ".".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return {
            **_where(self),
            "severity": self.severity.value,
            "healable": self.healable,
            "detail": self.detail,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class DatabaseInfo:
    """One database (bind) that was checked; ``url`` is always password-masked."""

    bind: str | None
    dialect: str
    url: str
    reachable: bool = True
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"bind": self.bind, "dialect": self.dialect, "url": self.url}
        if not self.reachable:
            data["reachable"] = False
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class DriftReport:
    """Everything a check found, over every bind."""

    items: tuple[Drift, ...] = ()
    databases: tuple[DatabaseInfo, ...] = ()

    @property
    def in_sync(self) -> bool:
        """True when no item is an error or a warning."""
        return not any(i.severity in (Severity.ERROR, Severity.WARNING) for i in self.items)

    @property
    def healable(self) -> tuple[Drift, ...]:
        """The items a heal may fix."""
        return tuple(i for i in self.items if i.healable)

    @property
    def errors(self) -> tuple[Drift, ...]:
        return tuple(i for i in self.items if i.severity is Severity.ERROR)

    def by_kind(self, kind: DriftKind | str) -> tuple[Drift, ...]:
        kind = DriftKind(kind)
        return tuple(i for i in self.items if i.kind is kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_sync": self.in_sync,
            "items": [i.to_dict() for i in self.items],
            "databases": [d.to_dict() for d in self.databases],
        }


class OperationKind(_Named):
    """What one heal operation does (``SCHEMAGUARD_ALLOWED_OPERATIONS`` names these)."""

    CREATE_TABLE = "create_table"
    ADD_COLUMN = "add_column"
    CREATE_INDEX = "create_index"
    CREATE_SEQUENCE = "create_sequence"
    ADD_ENUM_VALUE = "add_enum_value"
    REBUILD_INDEX = "rebuild_index"
    #: Opt-in: a unique index on an existing table rejects writes the app makes today.
    CREATE_UNIQUE_INDEX = "create_unique_index"
    #: Opt-in: a schema is usually made by whoever owns the database.
    CREATE_SCHEMA = "create_schema"


#: Operations that build an index on an existing table (online: concurrently, after the rest).
INDEX_BUILDS = frozenset(
    {OperationKind.CREATE_INDEX, OperationKind.CREATE_UNIQUE_INDEX, OperationKind.REBUILD_INDEX}
)


class LockLevel(_Named):
    """What an operation holds while it runs, for the app's reads and writes."""

    NONE = "none"
    BRIEF = "brief"
    BLOCKS_WRITES = "blocks_writes"
    REWRITES = "rewrites"


def _where(item: Drift | Operation) -> dict[str, Any]:
    """The fields that say what an item is about, in the contract's order."""
    return {
        "kind": item.kind.value,
        "bind": item.bind,
        "schema": item.schema,
        "table": item.table,
        "name": item.name,
    }


@dataclass(frozen=True)
class Operation:
    """One additive change a heal would make: its DDL statements, in order."""

    kind: OperationKind
    bind: str | None
    schema: str | None
    table: str
    name: str | None
    statements: tuple[str, ...]
    lock: LockLevel = LockLevel.BRIEF
    #: The SQLAlchemy DDL constructs the statements were compiled from (what a heal runs).
    ddl: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    @property
    def sql(self) -> str:
        """The statements as display text for the bind's dialect."""
        return ";\n".join(self.statements)

    def to_dict(self) -> dict[str, Any]:
        return {
            **_where(self),
            "sql": self.sql,
            "statements": list(self.statements),
            "lock": self.lock.value,
        }

    def describe(self) -> str:
        if self.kind is OperationKind.CREATE_SCHEMA:
            return f"{self.kind.value} {self.name}"
        target = f"{self.table}.{self.name}" if self.name else self.table
        if self.schema:
            target = f"{self.schema}.{target}"
        return f"{self.kind.value} {target}"


@dataclass(frozen=True)
class HealResult:
    """What a heal did: applied and failed operations, drift left alone, and the state after."""

    applied: tuple[Operation, ...] = ()
    failed: tuple[tuple[Operation, str], ...] = ()
    skipped: tuple[Drift, ...] = ()
    after: DriftReport = field(default_factory=DriftReport)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": [op.to_dict() for op in self.applied],
            "failed": [{"operation": op.to_dict(), "error": err} for op, err in self.failed],
            "skipped": [d.to_dict() for d in self.skipped],
            "after": self.after.to_dict(),
            "dry_run": self.dry_run,
        }

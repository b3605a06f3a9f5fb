"""``DialectImpl``: everything the guard needs to know about one database, in one class.

The base class is the generic implementation every SQLAlchemy dialect gets: reflection over
``Inspector.get_multi_*``, a fingerprint hashed from that reflection (correct, not cheap),
heal DDL from SQLAlchemy's constructs with each statement committing itself and no
cross-process lock, and errors classified by their English messages. The databases this
project tests (``sqlite``, ``postgresql``, ``mysql``) override what they do better or
differently, each in its own module.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Dialect, Engine
from sqlalchemy.schema import AddConstraint, ExecutableDDLElement

from ..report import INDEX_BUILDS, LockLevel, Operation, OperationKind
from ..shape import ColumnShape, ForeignKeyShape, SchemaShape, TableShape
from .ddl import AddColumn, ForeignKeyStyle
from .driver_errors import SchemaError, driver_error, first_line
from .inspector import reflect_with_inspector
from .session import AutocommitHealSession, HealSession
from .types import TypeRules, types_match
from .urls import masked_url

Schemas = Sequence[str | None]
"""The schemas one bind's models live in (None: the connection's default schema)."""

Recorded = tuple[str, str]
"""A state row: the fingerprint recorded with an in-sync check, and that check's items (JSON)."""


class DialectImpl:
    """The generic database: what works on any SQLAlchemy dialect (check is untested there)."""

    #: The SQLAlchemy dialect name (``engine.dialect.name``) this class serves.
    name: ClassVar[str] = "default"
    #: Run by this project's test suite on every change.
    tested: ClassVar[bool] = False
    #: Top-level module names of the DB-API drivers whose errors this class reads.
    driver_modules: ClassVar[tuple[str, ...]] = ()
    #: Which type details the database enforces (and so what is type drift).
    type_rules: ClassVar[TypeRules] = TypeRules()
    #: The lock and transaction a heal runs in (generic: neither).
    session_class: ClassVar[type[HealSession]] = AutocommitHealSession
    #: The session of an online heal (``SCHEMAGUARD_ONLINE_DDL``), when it differs.
    online_session_class: ClassVar[type[HealSession] | None] = None
    #: How ``ADD COLUMN`` writes the new column's foreign key (None: its own statement).
    foreign_key_style: ClassVar[ForeignKeyStyle] = None
    #: ``reflect_and_fingerprint`` gets the fingerprint from the reads of the shape (no
    #: fingerprint query of its own): a check that finds no recorded state for its models
    #: then skips the separate fingerprint query.
    fingerprint_from_reflection: ClassVar[bool] = True

    # -- identifiers ---------------------------------------------------------------------
    def fold(self, name: str) -> str:
        """An identifier as the database compares it (case-insensitive by default).

        ``str.lower``, not ``name.lower()``: a ``quoted_name`` memoizes its own ``lower()``,
        which costs more than the lowering itself on a name seen once or twice.
        """
        return str.lower(name)

    def fold_all(self, names: Iterable[str]) -> tuple[str, ...]:
        return tuple(map(str.lower, names))

    def table_names_case_sensitive(self, conn: Connection) -> bool:
        """True when ``Accounts`` and ``accounts`` are two tables."""
        return False

    def display_url(self, url: URL) -> str:
        """The URL as it may be shown: every password masked."""
        return masked_url(url)

    # -- catalog -------------------------------------------------------------------------
    def reflect(self, conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
        """Every table of ``schemas`` (None: the connection's default schema)."""
        return reflect_with_inspector(
            conn, schemas, case_sensitive_tables=self.table_names_case_sensitive(conn)
        )

    def fingerprint(self, conn: Connection, schemas: Sequence[str | None]) -> str:
        """A short string that differs whenever anything ``reflect`` reads changes."""
        return _shape_fingerprint(self.reflect(conn, schemas))

    def reflect_and_fingerprint(
        self, conn: Connection, schemas: Sequence[str | None]
    ) -> tuple[SchemaShape, str]:
        """Shape and fingerprint, of the same reads (generic: the fingerprint is a hash of the
        shape); a subclass with a fingerprint query runs it first, so that the fingerprint is
        never newer than the shape."""
        if type(self).fingerprint is not DialectImpl.fingerprint:
            fp = self.fingerprint(conn, schemas)
            return self.reflect(conn, schemas), fp
        shape = self.reflect(conn, schemas)
        return shape, _shape_fingerprint(shape)

    def fingerprint_and_state(
        self, conn: Connection, schemas: Schemas, state_table: str, models_hash: str
    ) -> tuple[str | None, Recorded | None]:
        """The fingerprint and the state row recorded for ``models_hash`` (None without a
        row, or without a state table yet).

        The fingerprint is None when there is no row and ``fingerprint_from_reflection``:
        the full check that follows gets it from its own reads.
        """
        recorded = self.recorded_state(conn, state_table, models_hash)
        if recorded is None and self.fingerprint_from_reflection:
            return None, None
        return self.fingerprint(conn, schemas), recorded

    def recorded_state(
        self, conn: Connection, state_table: str, models_hash: str
    ) -> Recorded | None:
        """The state row recorded for ``models_hash`` alone (None without one, or without a
        state table yet)."""
        quoted = conn.dialect.identifier_preparer.quote(state_table)
        try:
            row = conn.execute(
                sa.text(
                    f"SELECT s.fingerprint, s.items FROM {quoted} AS s "
                    "WHERE s.models_hash = :models_hash"
                ),
                {"models_hash": models_hash},
            ).first()
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            conn.rollback()
            return None
        return None if row is None else (str(row[0]), str(row[1]))

    # -- heal ----------------------------------------------------------------------------
    def heal_session(
        self,
        conn: Connection,
        lock_timeout: float,
        ddl_timeout: float,
        *,
        online: bool = False,
        index_timeout: float = 600.0,
    ) -> HealSession:
        """The lock and transaction one bind's heal runs in (online: ``online_session_class``
        where the database has one, else ``session_class`` told to run its DDL online)."""
        cls = self.session_class
        if online and self.online_session_class is not None:
            cls = self.online_session_class
        return cls(conn, lock_timeout, ddl_timeout, online=online, index_timeout=index_timeout)

    def deferred_kinds(self, online: bool) -> frozenset[OperationKind]:
        """Operations a heal in this mode runs after its short transaction, outside any."""
        cls = self.session_class
        if online and self.online_session_class is not None:
            cls = self.online_session_class
        return cls.deferred_kinds if cls.phased else frozenset()

    def adapt(self, op: Operation, online: bool, dialect: Dialect) -> Operation:
        """``op`` as this mode runs it (``SCHEMAGUARD_ONLINE_DDL``): its DDL and its lock."""
        return dataclasses.replace(op, lock=self.lock_level(op.kind, online))

    def rewrite_reasons(self, conn: Connection, ops: Sequence[Operation]) -> dict[int, str]:
        """Position in ``ops`` -> why that operation rewrites its whole table."""
        return {}

    def rebuild_index_ddl(
        self, dialect: Dialect, schema: str | None, name: str
    ) -> list[ExecutableDDLElement]:
        """How to rebuild an invalid index in place, or [] when this database cannot."""
        return []

    def locked_tables(self, conn: Connection) -> set[str] | None:
        """Names of the tables ``conn``'s open transaction holds locks on (None: unknown)."""
        return None

    def keeps_data_in_pool(self, engine: Engine) -> bool:
        """True when disposing the engine's pool would lose the database (in-memory SQLite)."""
        return False

    def add_column_ddl(self, table: sa.Table, column: sa.Column[Any]) -> list[ExecutableDDLElement]:
        """``ADD COLUMN`` with its single-column foreign key (see ``foreign_key_style``)."""
        fk = single_column_foreign_key(column)
        if self.foreign_key_style is not None or fk is None:
            return [AddColumn(table, column, fk, self.foreign_key_style)]
        return [AddColumn(table, column), AddConstraint(fk)]

    def create_type_ddl(
        self, columns: Iterable[sa.Column[Any]], existing: set[tuple[str | None, str]]
    ) -> list[ExecutableDDLElement]:
        """Named types the columns need that do not exist yet (PostgreSQL's enums)."""
        return []

    def add_enum_value_ddl(
        self, column: sa.Column[Any], present: tuple[str, ...] | None
    ) -> list[ExecutableDDLElement]:
        """Statements that add the labels of the column's enum the database lacks (PostgreSQL's
        ``ALTER TYPE ... ADD VALUE``); none where a label is part of the column's type."""
        return []

    def unaddable_column_hint(self, column: ColumnShape) -> str | None:
        """Why this nullable-or-defaulted column still cannot be added, or None."""
        return None

    def missing_foreign_key_hint(self) -> str:
        return "write a migration (adding a constraint can fail on existing rows)"

    def implicit_indexes(self, live: TableShape) -> set[str]:
        """Folded names of indexes the database made by itself (never drift)."""
        return set()

    def lock_level(self, kind: OperationKind, online: bool = True) -> LockLevel:
        """What an operation of ``kind`` holds while it runs (shown by ``plan --sql``)."""
        if kind in INDEX_BUILDS:
            return LockLevel.BLOCKS_WRITES  # a plain CREATE INDEX holds writes for its build
        return LockLevel.BRIEF

    def types_match(self, model_text: str, db_text: str) -> bool:
        """True when the database cannot tell the two types apart."""
        return types_match(model_text, db_text, self.type_rules)

    # -- drift ---------------------------------------------------------------------------
    #: Foreign-key actions the database treats as its default (no action).
    default_foreign_key_actions: ClassVar[frozenset[str | None]] = frozenset({None})
    #: The database keeps DEFERRABLE / INITIALLY DEFERRED on a foreign key.
    keeps_deferrable: ClassVar[bool] = True

    def unique_constraint_name(self, table: str, columns: Iterable[str]) -> str:
        """The name an unnamed unique constraint's index gets: ``uq_<table>_<columns>``, cut
        to the index name limit with a hash suffix."""
        name = "uq_" + table + "_" + "_".join(columns)
        limit = self.index_name_limit
        if len(name) > limit:
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            name = name[: limit - 9] + "_" + digest
        return name

    #: Longest index name the database keeps (the generic: PostgreSQL's 63).
    index_name_limit: ClassVar[int] = 63

    def foreign_key_differences(self, model: ForeignKeyShape, live: ForeignKeyShape) -> list[str]:
        """How the database's foreign key differs from the model's (ON DELETE, ON UPDATE,
        deferrability), in words; empty when it does not."""
        out = []
        for what, want, have in (
            ("ON DELETE", model.ondelete, live.ondelete),
            ("ON UPDATE", model.onupdate, live.onupdate),
        ):
            defaults = self.default_foreign_key_actions
            if want != have and not (want in defaults and have in defaults):
                out.append(
                    f"{what} is {(have or 'no action').upper()} in the database but "
                    f"{(want or 'no action').upper()} in the model"
                )
        if (
            self.keeps_deferrable
            and None not in (model.deferrable, live.deferrable)
            and model.deferrable != live.deferrable
        ):
            out.append(
                f"it is {live.deferrable} in the database but {model.deferrable} in the model"
            )
        return out

    def enum_label_hint(self, column: ColumnShape) -> str | None:
        """Why labels the database lacks cannot be added by a heal, or None when they can."""
        return "adding a label retypes the column here: write a migration"

    def missing_schema_hint(self, schema: str) -> str | None:
        """Why a heal can never create ``schema``, or None when ``create_schema`` can."""
        return None

    # -- queries -------------------------------------------------------------------------
    def degraded_null(
        self, type_: sa.types.TypeEngine[Any], dialect: Dialect
    ) -> sa.ColumnElement[Any]:
        """What a query reads in place of a column of ``type_`` the database lacks."""
        return sa.null()

    # -- errors --------------------------------------------------------------------------
    def error_code(self, orig: BaseException | None) -> str | int | None:
        """The driver's error code (SQLSTATE, errno, result code), or None."""
        return None

    def classify(self, exc: BaseException) -> SchemaError | None:
        """The missing table or column behind ``exc``, or None for any other error."""
        return None

    def is_lock_timeout(self, exc: BaseException) -> bool:
        """True when a DDL gave up waiting for a table lock."""
        return False

    def error_message(self, exc: BaseException) -> str:
        """The driver's message, first line, without SQL or parameters."""
        orig = driver_error(exc)
        return first_line(orig if orig is not None else exc)


def single_column_foreign_key(column: sa.Column[Any]) -> sa.ForeignKeyConstraint | None:
    """The one foreign-key constraint on just this column (added with it), or None."""
    found = [
        fk.constraint
        for fk in column.foreign_keys
        if fk.constraint is not None and len(fk.constraint.columns) == 1
    ]
    return found[0] if len(found) == 1 else None


def _shape_fingerprint(shape: SchemaShape) -> str:
    return "shape:" + hashlib.sha1(repr(sorted(shape.tables.items())).encode()).hexdigest()

"""PostgreSQL (psycopg 3, psycopg2 and any other driver SQLAlchemy's dialect speaks).

- Catalog: ``postgresql_catalog``; fingerprint: one ``pg_catalog`` query over every schema
  the reflection reads (for the default schema: every schema of the ``search_path``).
- Heal: ``BEGIN``, then ``pg_advisory_xact_lock`` waited for at most the lock timeout
  (``SET LOCAL lock_timeout``; a transaction-level lock also works behind PgBouncer in
  transaction pooling, and goes away with the transaction, also when the process dies). Then
  ``SET LOCAL lock_timeout`` to the DDL timeout bounds each DDL's wait for table locks; one
  SAVEPOINT per operation.
- Errors: by SQLSTATE (psycopg 3's ``sqlstate``, psycopg2's ``pgcode``); the names are read
  from the message whatever the server's ``lc_messages``.
- Identifiers keep their case (unquoted ones come back lower case); native enums are created
  with ``CREATE TYPE`` before the table or column that needs them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ENUM
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType, NamedType
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import ExecutableDDLElement

from ..report import DriftKind
from ..shape import ColumnShape, SchemaShape
from .base import DialectImpl, Recorded, Schemas
from .driver_errors import (
    MessagePattern,
    SchemaError,
    classify_message,
    dotted_name,
    driver_error,
    first_line,
    last_part,
    missing_column,
    quoted_names,
    table_in_statement,
)
from .postgresql_catalog import read_postgresql
from .postgresql_ddl import add_enum_values
from .session import HealSession, LockTimeout, lock_held_message, milliseconds

UNDEFINED_TABLE = "42P01"
UNDEFINED_COLUMN = "42703"
LOCK_NOT_AVAILABLE = "55P03"
MISSING_COLUMN = DriftKind.MISSING_COLUMN

# Rows of the catalog that make up the schema; the fingerprint is their count and the sum of
# their 64-bit hashes (no sort: ~2x cheaper than an md5 of the sorted rows, which PostgreSQL
# before 11, without hashtextextended, still uses). The default schema (None) is every schema
# of the search path, as reflection reads every table visible through it.
_ROWS = """
WITH ns AS (
  SELECT oid FROM pg_namespace
   WHERE nspname = ANY(CAST(:names AS text[]))
      OR (:with_default AND nspname = ANY(current_schemas(false)))
)
SELECT {aggregate} FROM (
  SELECT concat_ws(':', n.oid, n.nspname) AS x
    FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)
  UNION ALL
  SELECT concat_ws(':', c.oid, c.relname, c.relkind, c.relnatts)
    FROM pg_class c
   WHERE c.relnamespace  IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'i', 'v', 'S')
  UNION ALL
  SELECT concat_ws(':', a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relnamespace  IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p') AND a.attnum > 0
     AND NOT a.attisdropped
  UNION ALL
  SELECT concat_ws(':', o.oid, o.conname, o.contype, o.conrelid, o.conkey, o.confdeltype,
                   o.confupdtype, o.condeferrable, o.condeferred)
    FROM pg_constraint o WHERE o.connamespace  IN (SELECT oid FROM ns)
  UNION ALL
  SELECT concat_ws(':', t.oid, t.typname) FROM pg_type t
   WHERE t.typnamespace  IN (SELECT oid FROM ns) AND t.typtype = 'e'
  UNION ALL
  SELECT concat_ws(':', e.enumtypid, e.enumlabel) FROM pg_enum e JOIN pg_type t
      ON t.oid = e.enumtypid WHERE t.typnamespace IN (SELECT oid FROM ns)
) parts
"""
_FINGERPRINT = _ROWS.replace(
    "{aggregate}", "count(*) || ':' || coalesce(sum(hashtextextended(x, 0)), 0)"
)
_FINGERPRINT_BEFORE_11 = _ROWS.replace(
    "{aggregate}", "md5(coalesce(string_agg(x, ',' ORDER BY x), ''))"
)
# A message carried as text (PendingRollbackError): the driver's exception class names it.
_EMBEDDED = re.compile(r"\((?:psycopg2?|asyncpg|pg8000)[\w.]*\.(UndefinedTable|UndefinedColumn)\)")
_PATTERNS: tuple[MessagePattern, ...] = (
    (re.compile(r'column "([^"]+)" of relation "([^"]+)" does not exist'), MISSING_COLUMN, 2, 1),
    (re.compile(r'relation "([^"]+)" does not exist'), DriftKind.MISSING_TABLE, 1, None),
    (re.compile(r'column "?([\w$.]+?)"? does not exist'), MISSING_COLUMN, None, 1),
)


class PostgresqlHealSession(HealSession):
    """A transaction holding the database's advisory lock."""

    def begin(self) -> None:
        key = _lock_key(self.conn)
        self.conn.exec_driver_sql("BEGIN")
        try:
            if self.lock_timeout > 0:
                # lock_timeout also bounds the wait for an advisory lock; the server wakes us
                # the moment the holder commits (no polling).
                self._set_lock_timeout(self.lock_timeout)
                self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            else:  # 0 means "do not wait" here, but "no limit" to PostgreSQL
                got = self.conn.execute(
                    sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}
                ).scalar()
                if not got:
                    raise LockTimeout(self._held())
            self._set_lock_timeout(self.ddl_lock_timeout)
        except sa.exc.OperationalError as exc:  # the caller rolls back
            if error_code(exc.orig) == LOCK_NOT_AVAILABLE:
                raise LockTimeout(self._held()) from exc
            raise

    def _set_lock_timeout(self, seconds: float) -> None:
        self.conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{milliseconds(seconds)}ms'")

    def _held(self) -> str:
        return lock_held_message("the PostgreSQL advisory lock", self.lock_timeout)


def _lock_key(conn: Connection) -> int:
    database = conn.exec_driver_sql("SELECT current_database()").scalar()
    digest = hashlib.sha256(f"flask-schemaguard:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


MAX_IDENTIFIER_BYTES = 63


def pg_object_name(name1: str, name2: str, label: str) -> str:
    """PostgreSQL's makeObjectName: ``name1_name2_label`` within 63 bytes, the longer of the
    two names shortened first."""
    first, second = name1.encode(), name2[:MAX_IDENTIFIER_BYTES].encode()
    available = MAX_IDENTIFIER_BYTES - (len(label) + 1) - (1 if second else 0)
    n1, n2 = len(first), len(second)
    while n1 + n2 > available:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    head = first[:n1].decode("utf-8", "ignore")
    tail = second[:n2].decode("utf-8", "ignore")
    return "_".join(p for p in (head, tail, label) if p)


def error_code(orig: BaseException | None) -> str | None:
    """The SQLSTATE: ``sqlstate`` (psycopg 3, asyncpg) or ``pgcode`` (psycopg2)."""
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


class PostgresqlImpl(DialectImpl):
    name = "postgresql"
    session_class = PostgresqlHealSession
    foreign_key_style = "inline"
    tested = True
    driver_modules = ("psycopg", "psycopg2", "psycopg2cffi", "asyncpg", "pg8000")

    def fold(self, name: str) -> str:
        """The name as the server stores it: cut to 63 bytes (NAMEDATALEN - 1)."""
        if len(name) <= 15 or len(name.encode()) <= MAX_IDENTIFIER_BYTES:
            return name
        return name.encode()[:MAX_IDENTIFIER_BYTES].decode("utf-8", "ignore")

    def fold_all(self, names: Iterable[str]) -> tuple[str, ...]:
        return tuple(map(self.fold, names))

    def unique_constraint_name(self, table: str, columns: Iterable[str]) -> str:
        """The server's own name for an unnamed one: ``<table>_<columns>_key``, shortened
        the way PostgreSQL's makeObjectName shortens it."""
        return pg_object_name(table, "_".join(columns), "key")

    def enum_label_hint(self, column: ColumnShape) -> str | None:
        return None  # ALTER TYPE ... ADD VALUE (add_enum_value)

    # -- catalog -------------------------------------------------------------------------
    def reflect(self, conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
        shape = read_postgresql(conn, schemas)
        return shape if shape is not None else super().reflect(conn, schemas)

    def fingerprint(self, conn: Connection, schemas: Sequence[str | None]) -> str:
        value = conn.execute(sa.text(_fingerprint_sql(conn)), _scope(schemas)).scalar()
        return f"pg:{value}"

    def fingerprint_and_state(
        self, conn: Connection, schemas: Schemas, state_table: str, models_hash: str
    ) -> tuple[str, Recorded | None]:
        quoted = conn.dialect.identifier_preparer.quote(state_table)
        sql = (
            f"SELECT ({_fingerprint_sql(conn)}), s.fingerprint, s.items "
            f"FROM (SELECT 1) AS one LEFT JOIN {quoted} AS s ON s.models_hash = :models_hash"
        )
        try:
            row = conn.execute(sa.text(sql), {**_scope(schemas), "models_hash": models_hash}).one()
        except sa.exc.DBAPIError as exc:  # no state table yet
            if exc.connection_invalidated:
                raise
            conn.rollback()  # end the failed transaction
            return self.fingerprint(conn, schemas), None
        recorded = None if row[1] is None else (str(row[1]), str(row[2]))
        return f"pg:{row[0]}", recorded

    # -- heal ----------------------------------------------------------------------------
    def create_type_ddl(
        self, columns: Iterable[sa.Column[Any]], existing: set[tuple[str | None, str]]
    ) -> list[ExecutableDDLElement]:
        statements: list[ExecutableDDLElement] = []
        for column in columns:
            type_ = column.type
            if isinstance(type_, sa.Enum) and type_.native_enum and type_.name:
                # the schema CreateTable qualifies the type with (None: the search path)
                key = (type_.schema, str(type_.name))
                if key in existing:
                    continue
                existing.add(key)
                pg_enum = (
                    type_
                    if isinstance(type_, ENUM)
                    else ENUM(*type_.enums, name=type_.name, schema=key[0])
                )
                statements.append(CreateEnumType(pg_enum))
        return statements

    # -- queries -------------------------------------------------------------------------
    def degraded_null(
        self, type_: sa.types.TypeEngine[Any], dialect: Dialect
    ) -> sa.ColumnElement[Any]:
        """A typed NULL: PostgreSQL refuses a bare NULL in ORDER BY / GROUP BY ("non-integer
        constant") and cannot always pick an operator for one. A type the database may lack
        (an enum, a domain, a user-defined type) stays a bare NULL."""
        impl = type_.dialect_impl(dialect)
        if isinstance(impl, (sa.Enum, NamedType, sa.types.UserDefinedType)):
            return sa.null()
        return sa.cast(sa.null(), type_)

    def add_enum_value_ddl(
        self, column: sa.Column[Any], present: tuple[str, ...] | None
    ) -> list[ExecutableDDLElement]:
        """``ALTER TYPE ... ADD VALUE`` for each label of the column's native enum the
        database lacks (every model label, each IF NOT EXISTS, when ``present`` is unknown)."""
        type_ = column.type
        if not (isinstance(type_, sa.Enum) and type_.native_enum and type_.name):
            return []
        return add_enum_values(type_, tuple(type_.enums), present or ())

    # -- errors --------------------------------------------------------------------------
    def error_code(self, orig: BaseException | None) -> str | None:
        return error_code(orig)

    def classify(self, exc: BaseException) -> SchemaError | None:
        orig = driver_error(exc)
        code = error_code(orig)
        if code is None:
            return _classify_text(exc)
        message = first_line(orig) if orig is not None else ""
        names = quoted_names(message)
        if code == UNDEFINED_TABLE:
            table = last_part(names[0]) if names else table_in_statement(exc)
            return SchemaError(DriftKind.MISSING_TABLE, table, None)
        if code == UNDEFINED_COLUMN:
            if len(names) >= 2:  # column "x" of relation "t" (INSERT, UPDATE)
                return SchemaError(DriftKind.MISSING_COLUMN, last_part(names[1]), names[0])
            if names:
                return missing_column(exc, names[0], None)
            dotted = dotted_name(message)
            if dotted is not None:
                return SchemaError(DriftKind.MISSING_COLUMN, dotted[0], dotted[1])
            return SchemaError(DriftKind.MISSING_COLUMN, table_in_statement(exc), None)
        return None

    def is_lock_timeout(self, exc: BaseException) -> bool:
        return error_code(driver_error(exc)) == LOCK_NOT_AVAILABLE


def _classify_text(exc: BaseException) -> SchemaError | None:
    """An error known only by its text (a PendingRollbackError quoting the original)."""
    text = str(exc)
    embedded = _EMBEDDED.search(text)
    if embedded is not None:
        names = quoted_names(text[embedded.end() :].split("\n", 1)[0])
        if embedded.group(1) == "UndefinedTable":
            return SchemaError(
                DriftKind.MISSING_TABLE, last_part(names[0]) if names else None, None
            )
        if len(names) >= 2:
            return SchemaError(DriftKind.MISSING_COLUMN, last_part(names[1]), names[0])
    return classify_message(exc, text, _PATTERNS)


def _scope(schemas: Sequence[str | None]) -> dict[str, Any]:
    return {"names": [s for s in schemas if s], "with_default": None in schemas}


def _fingerprint_sql(conn: Connection) -> str:
    version = getattr(conn.dialect, "server_version_info", None) or (0,)
    return _FINGERPRINT if tuple(version) >= (11,) else _FINGERPRINT_BEFORE_11

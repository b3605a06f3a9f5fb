"""PostgreSQL (psycopg 3, psycopg2 and any other driver SQLAlchemy's dialect speaks).

- Catalog: ``postgresql_catalog``; fingerprint: one ``pg_catalog`` query over every schema
  the reflection reads (for the default schema: every schema of the ``search_path``).
- Heal: ``postgresql_session`` (the advisory lock; online DDL: a short, bounded transaction
  for tables and columns, then concurrent index builds; or one transaction for everything).
  Online, a column whose default is volatile (or an identity, a stored generated column)
  rewrites the table, and is left for a person (``rewrite_reasons``).
- Errors: by SQLSTATE (psycopg 3's ``sqlstate``, psycopg2's ``pgcode``); the names are read
  from the message whatever the server's ``lc_messages``.
- Identifiers keep their case (unquoted ones come back lower case); native enums are created
  with ``CREATE TYPE`` before the table or column that needs them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ENUM
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType, NamedType
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import CreateIndex, ExecutableDDLElement

from ..report import INDEX_BUILDS, DriftKind, LockLevel, Operation, OperationKind
from ..shape import ColumnShape, SchemaShape
from .base import DialectImpl, Recorded, Schemas
from .ddl import AddColumn, ReindexIndex
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
from .postgresql_session import (
    LOCK_NOT_AVAILABLE,
    PostgresqlHealSession,
    PostgresqlOnlineHealSession,
    error_code,
)

UNDEFINED_TABLE = "42P01"
UNDEFINED_COLUMN = "42703"
QUERY_CANCELED = "57014"
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
  SELECT concat_ws(':', i.indexrelid, i.indisvalid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE c.relnamespace  IN (SELECT oid FROM ns)
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


_CALL = re.compile(r"([A-Za-z_][\w$]*)\s*\(")


def _added_column(op: Operation) -> sa.Column[Any] | None:
    if op.kind is not OperationKind.ADD_COLUMN:
        return None
    for element in op.ddl:
        if isinstance(element, AddColumn):
            return element.column
    return None


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


def _concurrently(create: CreateIndex) -> CreateIndex:
    """``CREATE INDEX CONCURRENTLY`` for the model's index, built on a copy of its table so
    the model's own ``Index`` is never changed."""
    index = create.element
    table = index.table
    assert isinstance(table, sa.Table)
    copy = table.to_metadata(sa.MetaData())
    for candidate in copy.indexes:
        if candidate.name == index.name:
            candidate.dialect_kwargs["postgresql_concurrently"] = True
            return CreateIndex(candidate)
    # an index on a detached copy the planner made (a unique constraint healed as an index)
    clone = sa.Index(
        index.name,
        *(copy.c[c.name] for c in index.columns),
        unique=index.unique,
        postgresql_concurrently=True,
    )
    return CreateIndex(clone)


class PostgresqlImpl(DialectImpl):
    name = "postgresql"
    session_class = PostgresqlHealSession
    online_session_class = PostgresqlOnlineHealSession
    foreign_key_style = "inline"
    tested = True
    driver_modules = ("psycopg", "psycopg2", "psycopg2cffi", "asyncpg", "pg8000")

    def fold(self, name: str) -> str:
        """The name as the server stores it: cut to 63 bytes (NAMEDATALEN - 1)."""
        if len(name) <= 15 or (name.isascii() and len(name) <= MAX_IDENTIFIER_BYTES):
            return name  # at most 4 bytes a character; an ASCII one is one byte
        if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
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

    fingerprint_from_reflection = False  # the readers' rows are not the fingerprint's

    def fingerprint_and_state(
        self, conn: Connection, schemas: Schemas, state_table: str, models_hash: str
    ) -> tuple[str, Recorded | None]:
        """Whether the state table exists and may be read, asked with the fingerprint: a
        query naming a missing (or forbidden) table would fail, and the server would log
        that ERROR at every start."""
        quoted = conn.dialect.identifier_preparer.quote(state_table)
        value, exists = conn.execute(
            sa.text(
                f"SELECT ({_fingerprint_sql(conn)}), "
                "coalesce(has_table_privilege(to_regclass(:state_table), 'SELECT'), false)"
            ),
            {**_scope(schemas), "state_table": quoted},
        ).one()
        fp = f"pg:{value}"
        return fp, self.recorded_state(conn, state_table, models_hash) if exists else None

    # -- heal ----------------------------------------------------------------------------
    def lock_level(self, kind: OperationKind, online: bool = True) -> LockLevel:
        if kind in INDEX_BUILDS:
            return LockLevel.NONE if online else LockLevel.BLOCKS_WRITES
        if kind is OperationKind.ADD_COLUMN:
            # ACCESS EXCLUSIVE: for an instant online; until the whole heal commits otherwise
            return LockLevel.BRIEF if online else LockLevel.BLOCKS_WRITES
        return LockLevel.BRIEF

    def adapt(self, op: Operation, online: bool, dialect: Dialect) -> Operation:
        """Online: ``CREATE INDEX CONCURRENTLY``; all-in-one: a plain ``REINDEX``."""
        ddl: list[Any] = list(op.ddl)
        if op.kind in INDEX_BUILDS and online:
            ddl = [_concurrently(d) if isinstance(d, CreateIndex) else d for d in ddl]
        elif op.kind is OperationKind.REBUILD_INDEX and not online:
            ddl = [
                ReindexIndex(d.name, d.schema, False) if isinstance(d, ReindexIndex) else d
                for d in ddl
            ]
        statements = tuple(str(d.compile(dialect=dialect)).strip() for d in ddl)
        return dataclasses.replace(
            op, ddl=tuple(ddl), statements=statements, lock=self.lock_level(op.kind, online)
        )

    def rewrite_reasons(self, conn: Connection, ops: Sequence[Operation]) -> dict[int, str]:
        """Columns PostgreSQL fills by rewriting the table under ACCESS EXCLUSIVE: identity,
        stored generated columns, and defaults calling a volatile function (``nextval``,
        ``clock_timestamp()``, ``gen_random_uuid()``; ``now()`` is stable and is not)."""
        reasons: dict[int, str] = {}
        calls: dict[int, set[str]] = {}
        for position, op in enumerate(ops):
            column = _added_column(op)
            if column is None:
                continue
            if column.identity is not None:
                reasons[position] = "an identity column is filled by rewriting the table"
            elif column.computed is not None and column.computed.persisted is not False:
                reasons[position] = "a stored generated column is filled by rewriting the table"
            elif column.server_default is not None:
                text = (
                    str(column.server_default.arg) if hasattr(column.server_default, "arg") else ""
                )
                names = {m.lower() for m in _CALL.findall(text)}
                if names:
                    calls[position] = names
        wanted = sorted(set().union(*calls.values())) if calls else []
        if wanted:
            volatile = {
                str(n)
                for (n,) in conn.execute(
                    sa.text(
                        "SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v' "
                        "AND proname = ANY(CAST(:names AS text[]))"
                    ),
                    {"names": wanted},
                )
            }
            for position, names in calls.items():
                found = sorted(names & volatile)
                if found:
                    reasons[position] = (
                        f"its default calls the volatile function {found[0]}(), which PostgreSQL "
                        "evaluates for every row by rewriting the table"
                    )
        return reasons

    def locked_tables(self, conn: Connection) -> set[str] | None:
        if not conn.in_transaction():
            return set()
        rows = conn.exec_driver_sql(
            "SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relkind = 'r'"
        )
        return {str(name) for (name,) in rows}

    def rebuild_index_ddl(
        self, dialect: Dialect, schema: str | None, name: str
    ) -> list[ExecutableDDLElement]:
        version = getattr(dialect, "server_version_info", None) or (0,)
        return [ReindexIndex(name, schema)] if tuple(version) >= (12,) else []

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
        """``lock_timeout``, or the online transaction's ``statement_timeout`` (the bound on
        how long it may hold its locks: an ADD COLUMN that has its lock is instant)."""
        return error_code(driver_error(exc)) in (LOCK_NOT_AVAILABLE, QUERY_CANCELED)


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

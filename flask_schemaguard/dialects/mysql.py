"""MySQL and MariaDB (PyMySQL, mysqlclient and any other driver SQLAlchemy's dialect speaks).

- Catalog: ``mysql_catalog`` on MariaDB (the inspector on MySQL proper); fingerprint: row
  CRCs of four ``information_schema`` tables, summed by the reader's own statements in a full
  check.
- Heal: ``GET_LOCK`` with the lock timeout, ``lock_wait_timeout`` for DDL; DDL commits
  itself, so each operation stands alone and the next start completes an interrupted heal.
- Errors: by errno (``args[0]`` of PyMySQL's and mysqlclient's errors); names read from the
  message whatever the server's ``lc_messages``.
- Table names are case-sensitive with ``lower_case_table_names=0`` (the Linux default);
  column and index names never are. InnoDB's own index for a foreign key is never drift.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import CreateIndex

from ..report import DriftKind, LockLevel, Operation, OperationKind
from ..shape import SchemaShape, TableShape
from .base import DialectImpl, Recorded, Schemas
from .ddl import AddColumn, OnlineCreateIndex
from .driver_errors import (
    SchemaError,
    driver_error,
    first_arg_code,
    first_line,
    last_part,
    missing_column,
    quoted_names,
)
from .mysql_catalog import ROW_CRC, SCHEMA_COLUMN, read_mysql
from .session import HealSession, LockTimeout, NotRun, lock_held_message
from .types import TypeRules

NO_SUCH_TABLE = 1146
BAD_FIELD = 1054
LOCK_WAIT_TIMEOUT = 1205

_FINGERPRINT_PARTS = tuple(
    f"(SELECT CONCAT(COUNT(*), ':', COALESCE(SUM({crc}), 0)) "
    f"FROM information_schema.{table} "
    f"WHERE {SCHEMA_COLUMN.get(table, 'TABLE_SCHEMA')} IN :schemas)"
    for table, crc in ROW_CRC.items()
)
_FINGERPRINT = "SELECT " + ",\n".join(_FINGERPRINT_PARTS)
# The state row, and the fingerprint only when there is one: the server evaluates a scalar
# subquery in a CASE branch only when the branch is taken, so without a row for these models
# the statement costs a primary-key lookup (the full check sums the fingerprint anyway).
_STATE_THEN_FINGERPRINT = (
    "SELECT s.fingerprint, s.items, "
    + ", ".join(
        f"CASE WHEN s.models_hash IS NULL THEN NULL ELSE {p} END" for p in _FINGERPRINT_PARTS
    )
    + " FROM (SELECT 1) AS one LEFT JOIN {state} AS s ON s.models_hash = :models_hash"
)
# A message carried as text (PendingRollbackError): "(pymysql.err.X) (1146, "...")".
_EMBEDDED = re.compile(r"\((\d{4}), [\"'](.*)")


class MysqlHealSession(HealSession):
    """A named lock per database; no transaction (MySQL DDL commits itself)."""

    transactional = False
    name = ""
    _previous_wait: int | None = None

    def begin(self) -> None:
        database = str(self.conn.exec_driver_sql("SELECT DATABASE()").scalar())
        # lock names are limited to 64 characters
        self.name = "schemaguard:" + hashlib.sha1(database.encode()).hexdigest()[:32]
        got = self.conn.execute(
            sa.text("SELECT GET_LOCK(:name, :timeout)"),
            {"name": self.name, "timeout": max(0.0, float(self.lock_timeout))},
        ).scalar()
        if got != 1:
            self.name = ""
            raise LockTimeout(
                lock_held_message(f"the MySQL lock for database {database!r}", self.lock_timeout)
            )
        self._previous_wait = self.conn.exec_driver_sql(
            "SELECT @@SESSION.lock_wait_timeout"
        ).scalar()
        # whole seconds only; at least one
        self.conn.exec_driver_sql(
            f"SET SESSION lock_wait_timeout = {max(1, round(self.ddl_lock_timeout))}"
        )

    def attempt(self, work: Any) -> None:
        work()  # no transaction: each statement stands alone

    def run(self, statements: Sequence[object]) -> None:
        """Online: ``ALGORITHM=INSTANT``, then ``INPLACE, LOCK=NONE``; never a table copy."""
        for statement in statements:
            if self.online and isinstance(statement, AddColumn):
                self._add_column_online(statement)
            elif self.online and isinstance(statement, OnlineCreateIndex):
                self._online(statement, [statement])
            else:
                self.conn.execute(statement)  # type: ignore[call-overload]

    def _add_column_online(self, statement: AddColumn) -> None:
        tries = [statement.online("INSTANT"), statement.online("INPLACE", "NONE")]
        if statement.foreign_key is None:
            self._online(statement, tries)
            return
        if statement.column.server_default is not None:
            raise NotRun(
                "not run online: adding a foreign key checks every row, so the server copies "
                f"the table; run it by hand: {_plain(self.conn, statement)}"
            )
        # Every row holds NULL in the new column: nothing to check, and with the checks off
        # the server adds the foreign key in place instead of copying the table.
        named = self._named(statement)
        self.conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
        try:
            self._online(statement, [named.online("INPLACE", "NONE")])
        finally:
            self.conn.exec_driver_sql("SET SESSION foreign_key_checks = 1")

    def _named(self, statement: AddColumn) -> AddColumn:
        """The foreign key named as the server would name it (``<table>_ibfk_<n>``): with
        the checks off, MariaDB's in-place path reuses ``_ibfk_1`` even when it is taken."""
        fk = statement.foreign_key
        if fk is None or fk.name:
            return statement
        table = statement.table
        taken = self.conn.execute(
            sa.text(
                "SELECT CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS "
                "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :table "
                "AND CONSTRAINT_TYPE = 'FOREIGN KEY'"
            ),
            {"schema": table.schema, "table": table.name},
        ).scalars()
        pattern = re.compile(re.escape(table.name) + r"_ibfk_(\d+)$")
        numbers = [int(m.group(1)) for m in map(pattern.match, map(str, taken)) if m]
        metadata = sa.MetaData()
        if fk.referred_table is not table:
            fk.referred_table.to_metadata(metadata)
        copy = table.to_metadata(metadata)
        column = copy.c[statement.column.name]
        for constraint in copy.foreign_key_constraints:
            if [c.name for c in constraint.columns] == [column.name]:
                constraint.name = f"{table.name}_ibfk_{max(numbers, default=0) + 1}"
                return AddColumn(copy, column, constraint, "clause")
        return statement

    def _online(self, plain: object, tries: list[Any]) -> None:
        last: sa.exc.DBAPIError | None = None
        for statement in tries:
            try:
                self.conn.execute(statement)
                return
            except sa.exc.DBAPIError as exc:
                if first_arg_code(driver_error(exc)) not in _NOT_ONLINE:
                    raise
                last = exc
        assert last is not None
        raise NotRun(
            f"not run online: {_message(driver_error(last) or last)}; it would copy the table "
            f"or block writes: run it by hand: {_plain(self.conn, plain)}"
        ) from last

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def release(self) -> None:
        try:
            if self._previous_wait is not None:
                self.conn.exec_driver_sql(
                    f"SET SESSION lock_wait_timeout = {int(self._previous_wait)}"
                )
                self._previous_wait = None
        finally:
            if self.name:
                self.conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})
                self.name = ""


class MysqlImpl(DialectImpl):
    name = "mysql"
    session_class = MysqlHealSession
    foreign_key_style = "clause"  # one statement: MySQL DDL is not transactional
    tested = True
    driver_modules = ("pymysql", "MySQLdb", "mysql", "mariadb", "asyncmy", "aiomysql")
    # BOOL is TINYINT(1); MariaDB's JSON is LONGTEXT COLLATE utf8mb4_bin; FLOAT is single.
    type_rules = TypeRules(float_size=4, mysql=True)

    # InnoDB: RESTRICT is NO ACTION; DEFERRABLE is not kept (SQLAlchemy leaves it out).
    default_foreign_key_actions = frozenset({None, "restrict"})
    keeps_deferrable = False
    index_name_limit = 64

    def unique_constraint_name(self, table: str, columns: Iterable[str]) -> str:
        """InnoDB names an unnamed unique key after its first column."""
        return next(iter(columns))[: self.index_name_limit]

    def table_names_case_sensitive(self, conn: Connection) -> bool:
        # The MySQL dialect reads lower_case_table_names when it first connects.
        return getattr(conn.dialect, "_casing", 0) == 0

    # -- catalog -------------------------------------------------------------------------
    def reflect(self, conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
        read = read_mysql(conn, schemas, self.table_names_case_sensitive(conn))
        return read[0] if read is not None else super().reflect(conn, schemas)

    def reflect_and_fingerprint(
        self, conn: Connection, schemas: Sequence[str | None]
    ) -> tuple[SchemaShape, str]:
        """MariaDB's reader sums the fingerprint from the very statements that read the
        shape, saving the catalog scans of a separate fingerprint query."""
        resolved = _schema_names(conn, schemas)
        if len(set(resolved)) == len(resolved):  # each schema summed once, as the query does
            read = read_mysql(conn, schemas, self.table_names_case_sensitive(conn))
            if read is not None:
                shape, sums = read
                return shape, _fingerprint_of(tuple(f"{n}:{t}" for n, t in sums.values()))
        return super().reflect_and_fingerprint(conn, schemas)

    def fingerprint(self, conn: Connection, schemas: Sequence[str | None]) -> str:
        stmt = sa.text(_FINGERPRINT).bindparams(sa.bindparam("schemas", expanding=True))
        row = conn.execute(stmt, {"schemas": _schema_names(conn, schemas)}).one()
        return _fingerprint_of(tuple(row))

    def fingerprint_and_state(
        self, conn: Connection, schemas: Schemas, state_table: str, models_hash: str
    ) -> tuple[str | None, Recorded | None]:
        """One statement: the state row and, only when there is one, the fingerprint (None
        without a row: a full check's reads give it)."""
        quoted = conn.dialect.identifier_preparer.quote(state_table)
        stmt = sa.text(_STATE_THEN_FINGERPRINT.format(state=quoted)).bindparams(
            sa.bindparam("schemas", expanding=True)
        )
        params = {"schemas": _schema_names(conn, schemas), "models_hash": models_hash}
        try:
            row = conn.execute(stmt, params).one()
        except sa.exc.DBAPIError as exc:  # no state table yet
            if exc.connection_invalidated:
                raise
            conn.rollback()
            return None, None
        if row[0] is None:
            return None, None
        return _fingerprint_of(tuple(row[2:])), (str(row[0]), str(row[1]))

    # -- heal ----------------------------------------------------------------------------
    def adapt(self, op: Operation, online: bool, dialect: Dialect) -> Operation:
        """Online: ``ALGORITHM=INSTANT`` columns (``INPLACE, LOCK=NONE`` where the server
        cannot) and ``ALGORITHM=INPLACE LOCK=NONE`` indexes."""
        if not online:
            return dataclasses.replace(op, lock=self.lock_level(op.kind, online))
        ddl: list[Any] = []
        for element in op.ddl:
            if isinstance(element, AddColumn):
                element = element.online("INSTANT")
            elif isinstance(element, CreateIndex) and not isinstance(element, OnlineCreateIndex):
                element = OnlineCreateIndex(element.element, "INPLACE", "NONE")
            ddl.append(element)
        statements = tuple(str(d.compile(dialect=dialect)).strip() for d in ddl)
        return dataclasses.replace(
            op, ddl=tuple(ddl), statements=statements, lock=self.lock_level(op.kind, online)
        )

    def lock_level(self, kind: OperationKind, online: bool = True) -> LockLevel:
        # InnoDB adds columns (instantly) and secondary indexes (in place, writes go on) under
        # a metadata lock taken briefly at the start and the end; without the online clauses
        # the server picks the same algorithms where it can, but may fall back to a copy
        return LockLevel.BRIEF

    def implicit_indexes(self, live: TableShape) -> set[str]:
        """The indexes InnoDB made by itself for a foreign key.

        InnoDB creates one for a foreign key no index can serve, named after the constraint
        or its first column, and drops it as soon as another index on those columns is
        created: so it stands in for no model index (a heal interrupted after CREATE TABLE
        would otherwise leave the model's named index out for good).
        """
        names: set[str] = set()
        for fk in live.foreign_keys:
            columns = self.fold_all(fk.columns)
            own = {columns[0]} | ({self.fold(fk.name)} if fk.name else set())
            for ix in live.indexes:
                if (
                    ix.name
                    and not ix.unique
                    and self.fold_all(ix.columns) == columns
                    and self.fold(ix.name) in own
                ):
                    names.add(self.fold(ix.name))
        return names

    # -- errors --------------------------------------------------------------------------
    def error_code(self, orig: BaseException | None) -> int | None:
        return first_arg_code(orig)

    def classify(self, exc: BaseException) -> SchemaError | None:
        orig = driver_error(exc)
        code = first_arg_code(orig)
        message = _message(orig) if orig is not None else ""
        if code is None:
            embedded = _EMBEDDED.search(str(exc))
            if embedded is None:
                return None
            code, message = int(embedded.group(1)), embedded.group(2)
        names = quoted_names(message)
        if code == NO_SUCH_TABLE:
            return SchemaError(
                DriftKind.MISSING_TABLE, last_part(names[0]) if names else None, None
            )
        if code == BAD_FIELD and names:
            return missing_column(exc, names[0], None)
        return None

    def is_lock_timeout(self, exc: BaseException) -> bool:
        return first_arg_code(driver_error(exc)) == LOCK_WAIT_TIMEOUT

    def error_message(self, exc: BaseException) -> str:
        orig = driver_error(exc)
        code = first_arg_code(orig)
        if orig is None or code is None:
            return super().error_message(exc)
        return f"{_message(orig)} (MySQL error {code})"


#: ER_ALTER_OPERATION_NOT_SUPPORTED(_REASON): the algorithm or lock asked for is not possible.
_NOT_ONLINE = (1845, 1846)


def _plain(conn: Connection, statement: Any) -> str:
    """The statement without online clauses, as a person would run it."""
    if isinstance(statement, AddColumn):
        statement = statement.online(None)
    elif isinstance(statement, OnlineCreateIndex):
        statement = CreateIndex(statement.element)
    return str(statement.compile(dialect=conn.dialect)).strip()


def _message(orig: BaseException) -> str:
    """The text of a ``(errno, message)`` driver error, first line."""
    args: tuple[Any, ...] = getattr(orig, "args", ())
    text = args[1] if len(args) >= 2 and isinstance(args[1], str) else first_line(orig)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def _schema_names(conn: Connection, schemas: Sequence[str | None]) -> list[str]:
    """Plain names, no OR: MariaDB then opens only these schemas' tables instead of scanning
    every database on the server (10-100x faster with many databases)."""
    names = [s for s in schemas if s]
    if None in schemas:
        # The database the dialect read when it connected (what reflection reads too).
        default = conn.dialect.default_schema_name
        if not default:
            default = str(conn.exec_driver_sql("SELECT DATABASE()").scalar())
        names.append(default)
    return names


def _fingerprint_of(parts: tuple[object, ...]) -> str:
    return "mysql:" + hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()

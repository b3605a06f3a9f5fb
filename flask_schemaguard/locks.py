"""Cross-process heal sessions: a lock, a transaction where the database has one, timeouts.

- PostgreSQL: ``BEGIN``, then ``pg_advisory_xact_lock`` waited for at most the lock timeout
  (``SET LOCAL lock_timeout``; a transaction-level lock also works behind PgBouncer in
  transaction pooling, and goes away with the transaction, also when the process dies). Then
  ``SET LOCAL lock_timeout`` to the DDL timeout bounds each DDL's wait for table locks; one
  SAVEPOINT per operation.
- SQLite: ``BEGIN IMMEDIATE`` with ``PRAGMA busy_timeout`` (the driver is put in autocommit
  mode so that it never commits the DDL on its own); one SAVEPOINT per operation.
- MySQL/MariaDB: ``GET_LOCK`` with the lock timeout, ``lock_wait_timeout`` for DDL; DDL
  commits itself, so each operation stands alone and the next start completes an
  interrupted heal.

One lock per database (not per schema): the guard's own tables live in the default schema and
two apps whose models share a schema must never heal it at the same time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .errors import SchemaGuardError


class LockTimeout(SchemaGuardError):
    """Another process held the heal lock longer than ``SCHEMAGUARD_LOCK_TIMEOUT``."""


class HealSession:
    """The lock and transaction around one bind's re-diff and apply."""

    transactional = True

    def __init__(self, conn: Connection, lock_timeout: float, ddl_lock_timeout: float) -> None:
        self.conn = conn
        self.lock_timeout = lock_timeout
        self.ddl_lock_timeout = ddl_lock_timeout

    def begin(self) -> None:
        """Take the lock (and open the transaction); on failure the caller calls
        ``rollback`` and ``release``."""
        raise NotImplementedError

    def run(self, statements: list[str]) -> None:
        """Run one operation's statements; on failure undo just this operation and re-raise."""
        self.attempt(lambda: [self.conn.exec_driver_sql(s) for s in statements])

    def attempt(self, work: Callable[[], object]) -> None:
        """Run ``work`` in a SAVEPOINT: on failure only its own changes are undone."""
        self.conn.exec_driver_sql("SAVEPOINT schemaguard_op")
        try:
            work()
        except Exception:
            self.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT schemaguard_op")
            self.conn.exec_driver_sql("RELEASE SAVEPOINT schemaguard_op")
            raise
        self.conn.exec_driver_sql("RELEASE SAVEPOINT schemaguard_op")

    def commit(self) -> None:
        self.conn.exec_driver_sql("COMMIT")

    def rollback(self) -> None:
        self.conn.exec_driver_sql("ROLLBACK")

    def release(self) -> None:
        """Give the lock back and restore session settings (after commit or rollback)."""


class PostgresHealSession(HealSession):
    def begin(self) -> None:
        key = _lock_key(self.conn)
        self.conn.exec_driver_sql("BEGIN")
        try:
            if self.lock_timeout > 0:
                # lock_timeout also bounds the wait for an advisory lock; the server wakes us
                # the moment the holder commits (no polling).
                self.conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_ms(self.lock_timeout)}ms'")
                self.conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": key})
            else:  # 0 means "do not wait" here, but "no limit" to PostgreSQL
                got = self.conn.exec_driver_sql(
                    "SELECT pg_try_advisory_xact_lock(%(k)s)", {"k": key}
                ).scalar()
                if not got:
                    raise LockTimeout(_held("the PostgreSQL advisory lock", self.lock_timeout))
            self.conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_ms(self.ddl_lock_timeout)}ms'")
        except sa.exc.OperationalError as exc:  # the caller rolls back
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise LockTimeout(_held("the PostgreSQL advisory lock", self.lock_timeout)) from exc
            raise


class SqliteHealSession(HealSession):
    _previous_busy_timeout: int | None = None

    def begin(self) -> None:
        self._previous_busy_timeout = self.conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        self.conn.exec_driver_sql(f"PRAGMA busy_timeout = {_ms(self.lock_timeout)}")
        try:
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        except sa.exc.OperationalError as exc:  # the caller releases
            if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
                raise LockTimeout(
                    _held("the SQLite write lock", self.lock_timeout)
                    + " (or another connection holds a long write transaction)"
                ) from exc
            raise

    def release(self) -> None:
        if self._previous_busy_timeout is not None:
            self.conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(self._previous_busy_timeout)}")
            self._previous_busy_timeout = None


class MysqlHealSession(HealSession):
    transactional = False
    name = ""
    _previous_wait: int | None = None

    def begin(self) -> None:
        database = str(self.conn.exec_driver_sql("SELECT DATABASE()").scalar())
        # lock names are limited to 64 characters
        self.name = "schemaguard:" + hashlib.sha1(database.encode()).hexdigest()[:32]
        got = self.conn.exec_driver_sql(
            "SELECT GET_LOCK(%s, %s)", (self.name, max(0.0, float(self.lock_timeout)))
        ).scalar()
        if got != 1:
            self.name = ""
            raise LockTimeout(_held(f"the MySQL lock for database {database!r}", self.lock_timeout))
        self._previous_wait = self.conn.exec_driver_sql(
            "SELECT @@SESSION.lock_wait_timeout"
        ).scalar()
        # whole seconds only; at least one
        self.conn.exec_driver_sql(
            f"SET SESSION lock_wait_timeout = {max(1, round(self.ddl_lock_timeout))}"
        )

    def attempt(self, work: Callable[[], object]) -> None:
        work()  # no transaction: each statement stands alone

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
                self.conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (self.name,))
                self.name = ""


SESSIONS: dict[str, type[HealSession]] = {
    "postgresql": PostgresHealSession,
    "sqlite": SqliteHealSession,
    "mysql": MysqlHealSession,
}


def heal_session(conn: Connection, lock_timeout: float, ddl_lock_timeout: float) -> HealSession:
    try:
        cls = SESSIONS[conn.dialect.name]
    except KeyError:
        raise SchemaGuardError(
            f"healing is not supported on {conn.dialect.name!r}; use SCHEMAGUARD_MODE='check'"
        ) from None
    return cls(conn, lock_timeout, ddl_lock_timeout)


def _lock_key(conn: Connection) -> int:
    database = conn.exec_driver_sql("SELECT current_database()").scalar()
    digest = hashlib.sha256(f"flask-schemaguard:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _held(what: str, timeout: float) -> str:
    return (
        f"could not get {what} within {timeout:g} s (SCHEMAGUARD_LOCK_TIMEOUT): another "
        "process is healing this database"
    )

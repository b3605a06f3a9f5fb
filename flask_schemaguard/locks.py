"""Cross-process heal sessions: a lock, a transaction where the database has one, timeouts.

- PostgreSQL: ``BEGIN``; ``pg_try_advisory_xact_lock`` polled until the lock timeout (a
  transaction-level lock also works behind PgBouncer in transaction pooling); ``SET LOCAL
  lock_timeout`` bounds each DDL's wait for table locks; one SAVEPOINT per operation.
- SQLite: ``BEGIN IMMEDIATE`` with ``PRAGMA busy_timeout`` (the driver is put in autocommit
  mode so that it never commits the DDL on its own); one SAVEPOINT per operation.
- MySQL/MariaDB: ``GET_LOCK`` with the lock timeout, ``lock_wait_timeout`` for DDL; DDL
  commits itself, so each operation stands alone and the next start completes an
  interrupted heal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

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
        raise NotImplementedError

    def run(self, statements: list[str]) -> None:
        """Run one operation's statements; on failure undo just this operation and re-raise."""
        self.conn.exec_driver_sql("SAVEPOINT schemaguard_op")
        try:
            for statement in statements:
                self.conn.exec_driver_sql(statement)
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
        """Give the lock back (transaction-level locks go with the transaction)."""


class PostgresHealSession(HealSession):
    def begin(self) -> None:
        key = _lock_key(self.conn)
        self.conn.exec_driver_sql("BEGIN")
        self.conn.exec_driver_sql(
            f"SET LOCAL lock_timeout = '{int(self.ddl_lock_timeout * 1000)}ms'"
        )
        _poll(
            lambda: bool(
                self.conn.exec_driver_sql(
                    "SELECT pg_try_advisory_xact_lock(%(k)s)", {"k": key}
                ).scalar()
            ),
            self.lock_timeout,
            self.rollback,
        )


class SqliteHealSession(HealSession):
    def begin(self) -> None:
        self.conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")
        try:
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        except Exception as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                raise LockTimeout(
                    f"could not get the SQLite write lock within {self.lock_timeout:g} s "
                    "(SCHEMAGUARD_LOCK_TIMEOUT): another connection holds a write transaction"
                ) from exc
            raise


class MysqlHealSession(HealSession):
    transactional = False

    def begin(self) -> None:
        self.conn.exec_driver_sql(
            f"SET SESSION lock_wait_timeout = {max(1, round(self.ddl_lock_timeout))}"
        )
        self.name = "schemaguard:" + str(self.conn.exec_driver_sql("SELECT DATABASE()").scalar())
        got = self.conn.exec_driver_sql(
            "SELECT GET_LOCK(%s, %s)", (self.name, max(0, round(self.lock_timeout)))
        ).scalar()
        if got != 1:
            raise LockTimeout(
                f"could not get the MySQL lock {self.name!r} within {self.lock_timeout:g} s "
                "(SCHEMAGUARD_LOCK_TIMEOUT): another process is healing this database"
            )

    def run(self, statements: list[str]) -> None:
        for statement in statements:
            self.conn.exec_driver_sql(statement)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def release(self) -> None:
        self.conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (self.name,))


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


def _poll(try_lock: Callable[[], bool], timeout: float, on_timeout: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not try_lock():
        if time.monotonic() >= deadline:
            on_timeout()
            raise LockTimeout(
                f"could not get the PostgreSQL advisory lock within {timeout:g} s "
                "(SCHEMAGUARD_LOCK_TIMEOUT): another process is healing this database"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.2)

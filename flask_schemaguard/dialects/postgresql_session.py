"""PostgreSQL heal sessions: the advisory lock, and the transactions around one heal.

- All-in-one (``SCHEMAGUARD_ONLINE_DDL = False``): ``BEGIN``, then ``pg_advisory_xact_lock``
  waited for at most the lock timeout, ``SET LOCAL lock_timeout`` to the DDL timeout, one
  SAVEPOINT per operation, one commit. A transaction-level lock works behind PgBouncer in
  transaction pooling and goes away with the transaction, also when the process dies.
- Online (the default): see :class:`PostgresqlOnlineHealSession`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, DropIndex

from ..report import INDEX_BUILDS
from .session import HealSession, LockTimeout, NotRun, lock_held_message, milliseconds

LOCK_NOT_AVAILABLE = "55P03"


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


class PostgresqlOnlineHealSession(HealSession):
    """Online DDL: the advisory lock in a transaction of its own connection for the whole
    heal; tables, sequences, enum values and columns in one short transaction on another
    whose every statement is bounded by what is left of ``SCHEMAGUARD_DDL_LOCK_TIMEOUT``
    (``lock_timeout`` and ``statement_timeout``: the hold, not only the wait); then each
    index with ``CREATE INDEX CONCURRENTLY`` / ``REINDEX INDEX CONCURRENTLY`` outside any
    transaction, cut at ``SCHEMAGUARD_INDEX_TIMEOUT`` by a cancel request (which PgBouncer
    forwards; a ``SET`` outside a transaction would land on another server connection).

    The lock is polled (``pg_try_advisory_xact_lock`` in short transactions) rather than
    waited for: a waiter blocked inside a statement holds a snapshot, and a concurrent index
    build waits for every older snapshot, so it would wait for the waiter waiting for it.
    """

    phased = True
    deferred_kinds = INDEX_BUILDS
    _lock_conn: Connection | None = None
    _deadline: float | None = None

    def begin(self) -> None:
        lock_conn = self.conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._lock_conn = lock_conn
        key = _lock_key(lock_conn)
        give_up = time.monotonic() + self.lock_timeout
        pause = 0.01
        while True:
            lock_conn.exec_driver_sql("BEGIN")
            # a literal, not a parameter: psycopg 3 keeps the snapshot of a parameterised
            # statement's portal, and an index build would wait for it
            got = lock_conn.exec_driver_sql(
                f"SELECT pg_try_advisory_xact_lock({int(key)})"
            ).scalar()
            if got:
                break
            lock_conn.exec_driver_sql("ROLLBACK")
            if time.monotonic() + pause > give_up:
                raise LockTimeout(
                    lock_held_message("the PostgreSQL advisory lock", self.lock_timeout)
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        self.conn.exec_driver_sql("BEGIN")

    def run(self, statements: Sequence[object]) -> None:
        """One operation of the short transaction, bounded by what is left of its budget."""
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.ddl_lock_timeout
        left = self._deadline - now
        if left <= 0.001:
            raise NotRun(
                f"not run: the transaction of tables and columns may hold its locks for "
                f"SCHEMAGUARD_DDL_LOCK_TIMEOUT = {self.ddl_lock_timeout:g} s and that time is "
                "spent; the next heal completes it",
                transient=True,
            )
        ms = milliseconds(left)
        self.conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ms}ms'")
        self.conn.exec_driver_sql(f"SET LOCAL statement_timeout = '{ms}ms'")
        super().run(statements)

    def commit(self) -> None:
        self.conn.exec_driver_sql("COMMIT")
        self._deadline = None

    def run_outside(self, statements: Sequence[object]) -> None:
        """Each statement under the index timeout. A ``CREATE INDEX CONCURRENTLY`` that fails
        (duplicate rows, the timeout) leaves an invalid index, which this heal just made and
        nothing uses: it is dropped concurrently, so the database is as it was."""
        dbapi = self.conn.connection.dbapi_connection
        for statement in statements:
            watchdog = _Watchdog(dbapi, self.index_timeout)
            try:
                self.conn.execute(statement)  # type: ignore[call-overload]
            except sa.exc.DBAPIError as exc:
                fired = watchdog.stop()
                if exc.connection_invalidated:
                    raise
                dropped = self._drop_leftover(statement)
                if not fired:
                    raise
                left = "was dropped" if dropped else "stays, and the next heal rebuilds it"
                raise NotRun(
                    f"cut short after SCHEMAGUARD_INDEX_TIMEOUT = {self.index_timeout:g} s "
                    f"(the invalid index it made {left})",
                    transient=True,
                ) from exc
            watchdog.stop()

    def _drop_leftover(self, statement: object) -> bool:
        if not isinstance(statement, CreateIndex):
            return False  # a REINDEX cut short keeps the old index; its copy is *_ccnew
        index = statement.element
        preparer = self.conn.dialect.identifier_preparer
        name = preparer.quote(str(index.name))
        schema = index.table.schema if index.table is not None else None
        if schema:
            name = f"{preparer.quote_schema(schema)}.{name}"
        invalid = self.conn.execute(
            sa.text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"),
            {"n": name},
        ).scalar()
        if not invalid:
            return False
        # DROP INDEX CONCURRENTLY waits for the same transactions the build waited for:
        # bounded too; if it is cut, the invalid index stays and the next heal rebuilds it
        watchdog = _Watchdog(self.conn.connection.dbapi_connection, self.ddl_lock_timeout)
        try:
            self.conn.execute(DropIndex(index, if_exists=True))
        except sa.exc.DBAPIError as exc:
            watchdog.stop()
            if exc.connection_invalidated:
                raise
            return False
        watchdog.stop()
        return True

    def reopen(self) -> None:
        self.conn.exec_driver_sql("BEGIN")

    def rollback(self) -> None:
        self.conn.exec_driver_sql("ROLLBACK")

    def release(self) -> None:
        lock_conn, self._lock_conn = self._lock_conn, None
        if lock_conn is None:
            return
        try:
            lock_conn.exec_driver_sql("COMMIT")
        finally:
            lock_conn.close()


class _Watchdog:
    """Sends the driver's cancel request if a statement runs longer than ``seconds``."""

    def __init__(self, dbapi_connection: Any, seconds: float) -> None:
        self._dbapi = dbapi_connection
        self._lock = threading.Lock()
        self._running = True
        self.fired = False
        self._timer = threading.Timer(seconds, self._cancel)
        self._timer.daemon = True
        self._timer.start()

    def _cancel(self) -> None:
        with self._lock:
            if not self._running:
                return
            cancel = getattr(self._dbapi, "cancel", None)
            if cancel is not None:
                self.fired = True
                cancel()

    def stop(self) -> bool:
        """Stop watching; True when the cancel request was sent."""
        self._timer.cancel()
        with self._lock:
            self._running = False
            return self.fired


def _lock_key(conn: Connection) -> int:
    database = conn.exec_driver_sql("SELECT current_database()").scalar()
    digest = hashlib.sha256(f"flask-schemaguard:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def error_code(orig: BaseException | None) -> str | None:
    """The SQLSTATE: ``sqlstate`` (psycopg 3, asyncpg) or ``pgcode`` (psycopg2)."""
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None
